using System.ComponentModel;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill distill --method kd</c>: one method (or a custom weighted loss, or a training scheme with
/// <c>--scheme</c>) on one student.</summary>
internal sealed class DistillCommand : Command<DistillCommand.Settings>
{
    internal sealed class Settings : ExperimentSettings
    {
        [CommandOption("-m|--method <METHOD>")]
        [Description("A built-in method, listed above (default kd); with --loss, the run's name (default: the loss, e.g. dkd1-dist1-ce1).")]
        public string? Method { get; init; }

        [CommandOption("--scheme <SCHEME>")]
        [Description("A training scheme instead of an offline method, listed above.")]
        public string? Scheme { get; init; }

        [CommandOption("--loss <TERMS>")]
        [Description("Weighted named terms instead of the method's, e.g. kd:0.9,ce:0.1 (the terms are listed above).")]
        public string? Loss { get; init; }

        [CommandOption("--student <MODEL>")]
        [Description("The student architecture, listed above (default small-cnn).")]
        public string Student { get; init; } = "small-cnn";
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // A loss of one's own is named after itself unless --method names it, so its rows and checkpoints never carry
        // the name of a built-in method it is not.
        LossSpec? loss = settings.Loss is null ? null : LossSpec.Parse(settings.Loss);
        MethodSection method = loss is null
            ? BuiltInRecipes.Method(settings.Method ?? "kd")
            : new MethodSection(settings.Method ?? new GridPoint(loss.ToString(), new Dictionary<string, string>()).FileName, loss);
        Recipe defaults = settings.Apply(BuiltInRecipes.Compare(settings.Data));
        Recipe recipe = defaults with
        {
            Name = settings.Scheme is null ? $"distill-{method.Name}" : $"distill-{settings.Scheme}",
            Methods = settings.Scheme is null ? [method] : [],
            Schemes = settings.Scheme is null ? [] : [settings.Scheme],
            Students = [settings.Student],
            Seeds = settings.Seeds is null ? [1] : defaults.Seeds,
        };
        return RecipeRunner.Run(recipe, settings.Out ?? Path.Combine("runs", "compare"), settings.Resume, cancellationToken, settings.TeacherCache);
    }
}
