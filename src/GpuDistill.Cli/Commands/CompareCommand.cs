using System.ComponentModel;
using GpuDistill.Experiments;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill compare</c>: the built-in recipe. Trains (or reuses) the teacher, the student alone and each
/// method over the seeds, then prints and writes the comparison.
/// </summary>
internal sealed class CompareCommand : Command<CompareCommand.Settings>
{
    internal sealed class Settings : ExperimentSettings
    {
        [CommandOption("--methods <LIST>")]
        [Description("Comma-separated offline methods, listed above (default: none,kd,reverse-kl,jsd,dkd; none is always added).")]
        public string? Methods { get; init; }

        [CommandOption("--schemes <LIST>")]
        [Description("Comma-separated training schemes to add as rows, listed above.")]
        public string? Schemes { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        Recipe recipe = settings.Apply(BuiltInRecipes.Compare(settings.Data));
        if (settings.Methods is not null)
        {
            string[] names = settings.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!names.Contains("none")) names = ["none", .. names];
            recipe = recipe with { Methods = names.Select(BuiltInRecipes.Method).ToArray() };
        }
        if (settings.Schemes is not null)
            recipe = recipe with { Schemes = settings.Schemes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) };
        return RecipeRunner.Run(recipe, settings.Out ?? Path.Combine("runs", "compare"), settings.Resume, cancellationToken, settings.TeacherCache);
    }
}

/// <summary>Runs a recipe with the console progress display and prints the table.</summary>
internal static class RecipeRunner
{
    public static int Run(Recipe recipe, string outputDirectory, bool resume, CancellationToken cancellationToken, string? teacherCache = null)
    {
        if (!GpuDistill.Distributed.DistributedTraining.WritesFiles)
        {
            // Another rank of a distributed run: it trains its share quietly; rank 0 reports and writes.
            new Experiment(recipe, outputDirectory, null, _ => { }) { TeacherCache = teacherCache }.Run(resume, cancellationToken);
            return 0;
        }
        ExperimentResults results = ConsoleProgress.Run(progress =>
            new Experiment(recipe, outputDirectory, progress, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"))
                { TeacherCache = teacherCache }.Run(resume, cancellationToken));
        ResultsTable.Print(results, outputDirectory);
        return 0;
    }
}
