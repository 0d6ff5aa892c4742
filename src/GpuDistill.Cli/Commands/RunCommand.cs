using System.ComponentModel;
using GpuDistill.Experiments;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill run recipe.json</c>: runs a recipe file.</summary>
internal sealed class RunCommand : Command<RunCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RECIPE>")]
        [Description("The JSON recipe (a results folder's recipe.json re-runs that experiment).")]
        public string Recipe { get; init; } = "";

        [CommandOption("-o|--out <DIR>")]
        public string? Out { get; init; }

        [CommandOption("--resume")]
        public bool Resume { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        Recipe recipe = RecipeLoader.Load(settings.Recipe);
        return RecipeRunner.Run(recipe, settings.Out ?? Path.Combine("runs", recipe.Name), settings.Resume, cancellationToken);
    }
}
