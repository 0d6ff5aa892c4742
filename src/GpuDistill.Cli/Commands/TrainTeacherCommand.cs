using GpuDistill.Experiments;
using GpuDistill.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill train-teacher</c>: trains the teacher of the built-in recipe (or reuses it), and reports it.
/// Later <c>compare</c> and <c>distill</c> runs with the same output directory reuse it.
/// </summary>
internal sealed class TrainTeacherCommand : Command<ExperimentSettings>
{
    public override int Execute(CommandContext context, ExperimentSettings settings, CancellationToken cancellationToken)
    {
        Recipe recipe = settings.Apply(BuiltInRecipes.Compare(settings.Data));
        string output = settings.Out ?? Path.Combine("runs", "compare");
        TrainingRun run = ConsoleProgress.Run(progress =>
            new Experiment(recipe, output, progress, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"))
                .RunTeacherOnly(cancellationToken));
        AnsiConsole.MarkupLine($"teacher {Markup.Escape(run.Model)}: [bold]{run.FinalAccuracy:P2}[/] test accuracy after {run.Epochs.Count} epochs");
        return 0;
    }
}
