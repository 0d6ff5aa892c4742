using System.ComponentModel;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill evaluate --model FILE --arch NAME</c>: test accuracy of saved weights.</summary>
internal sealed class EvaluateCommand : Command<EvaluateCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <FILE>")]
        [Description("Saved weights (a teacher.pt or a checkpoint's epoch-N.model.pt).")]
        public string Model { get; init; } = "";

        [CommandOption("--arch <NAME>")]
        [Description("Architecture of the weights: teacher-cnn, small-cnn or mlp.")]
        public string Architecture { get; init; } = "teacher-cnn";

        [CommandOption("--data <DIR>")]
        public string? Data { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using DistillModel model = ModelFactory.Create(settings.Architecture, 0);
        if (!Checkpoint.TryLoad(model, settings.Model))
            throw new FileNotFoundException($"No weights at '{settings.Model}'.", settings.Model);
        (_, ImageDataset test) = FashionMnist.Load(settings.Data);
        double accuracy = Evaluation.Accuracy(model, test);
        AnsiConsole.MarkupLine($"{Markup.Escape(settings.Architecture)} from {Markup.Escape(settings.Model)}: [bold]{accuracy:P2}[/] on {test.Count} test images ({Markup.Escape(test.Source)})");
        return 0;
    }
}
