using System.ComponentModel;
using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Models;
using GpuDistill.Search;
using GpuDistill.Training;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill search --budget-params N [--budget-ms X]</c>: the teacher of the built-in recipe (trained or reused)
/// guides an evolutionary search for a student within the budget (<see cref="StudentSearch"/>); writes the
/// candidates with their measured cost and accuracy, the Pareto fronts as a PNG, the search's cost and the winner's
/// recipe (<see cref="SearchReport"/>).
/// </summary>
internal sealed class SearchCommand : Command<SearchCommand.Settings>
{
    internal sealed class Settings : ExperimentSettings
    {
        [CommandOption("--budget-params <N>")]
        [Description("Most parameters a candidate may have (required; small-cnn has 18,482).")]
        public long? BudgetParameters { get; init; }

        [CommandOption("--budget-ms <MS>")]
        [Description("Most milliseconds per image at batch 1 in ONNX Runtime (one thread) on this machine.")]
        public double? BudgetMilliseconds { get; init; }

        [CommandOption("--families <LIST>")]
        [Description("Model families searched: cnn, mlp or cnn,mlp (default cnn).")]
        public string Families { get; init; } = "cnn";

        [CommandOption("--min-budget-share <F>")]
        [Description("Reject candidates below this share of --budget-params, in [[0, 1) (default 0: every size).")]
        public double MinimumBudgetShare { get; init; }

        [CommandOption("--separable")]
        [Description("Widen the CNN space with depthwise-separable stages and wider stage widths (SearchSpace.WithSeparable).")]
        public bool Separable { get; init; }

        [CommandOption("--population <N>")]
        [Description("Candidates of the first generation and the population kept (default 8).")]
        public int Population { get; init; } = 8;

        [CommandOption("--search-generations <N>")]
        [Description("Generations of mutated children after the first (default 3; each trains half a population).")]
        public int SearchGenerations { get; init; } = 3;

        [CommandOption("--search-epochs <N>")]
        [Description("Epochs of each candidate's KD training, its fitness (default 2).")]
        public int SearchEpochs { get; init; } = 2;

        [CommandOption("--finalists <N>")]
        [Description("The best candidates trained again on a longer schedule (--finalist-epochs), the best of them wins (default 0: the best short training wins).")]
        public int Finalists { get; init; }

        [CommandOption("--finalist-epochs <N>")]
        [Description("Epochs of each finalist's training, more than --search-epochs (default 6).")]
        public int FinalistEpochs { get; init; } = 6;

        [CommandOption("--teacher-model <MODEL>")]
        [Description("The teacher's architecture (default teacher-cnn).")]
        public string? TeacherModel { get; init; }

        [CommandOption("--search-validation <PER_CLASS>")]
        [Description("Training images per class held out to judge the candidates (default 100); the teacher never sees them.")]
        public int SearchValidation { get; init; } = 100;
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.BudgetParameters is not long budget) throw new ArgumentException("--budget-params N is required.", "--budget-params");
        if (settings.SearchValidation <= 0)
            throw new ArgumentOutOfRangeException("--search-validation", settings.SearchValidation, "--search-validation must be positive.");
        ArchitectureFamily[] families = [.. settings.Families.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(f => Enum.TryParse(f, ignoreCase: true, out ArchitectureFamily family)
                ? family
                : throw new ArgumentException($"--families: '{f}' is not a family; use cnn, mlp or cnn,mlp.", "--families"))];
        Recipe recipe = settings.Apply(BuiltInRecipes.Compare(settings.Data));
        recipe = recipe with
        {
            Data = recipe.Data with { ValidationPerClass = settings.SearchValidation },
            Teacher = recipe.Teacher with { Model = settings.TeacherModel ?? recipe.Teacher.Model },
        };
        string output = settings.Out ?? Path.Combine("runs", "search");
        var options = new SearchOptions
        {
            BudgetParameters = budget,
            BudgetMilliseconds = settings.BudgetMilliseconds,
            MinimumBudgetShare = settings.MinimumBudgetShare,
            Space = (settings.Separable ? SearchSpace.WithSeparable : new SearchSpace()) with { Families = families.Distinct().ToArray() },
            Population = settings.Population,
            Generations = settings.SearchGenerations,
            Epochs = settings.SearchEpochs,
            Finalists = settings.Finalists,
            FinalistEpochs = settings.FinalistEpochs,
            Training = recipe.Training.ToOptions(recipe.Seeds[0], recipe.Data.Augment),
        };
        // A budget nothing meets is an error before the teacher trains.
        StudentSearch.CheckBudget(options, output);

        void Log(string line) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        TrainingRun teacherRun = ConsoleProgress.Run(progress => new Experiment(recipe, output, progress, Log).RunTeacherOnly(cancellationToken));
        using DistillModel teacher = ModelFactory.Create(recipe.Teacher.Model, recipe.Teacher.Seed);
        string weights = Path.Combine(Experiment.TeacherDirectory(recipe, output), "teacher.pt");
        if (!Checkpoint.TryLoad(teacher, weights)) throw new FileNotFoundException($"The teacher's weights are not at {weights}.", weights);

        (ImageDataset fullTrain, _) = FashionMnist.Load(recipe.Data.Directory);
        (ImageDataset train, ImageDataset validation) = fullTrain.SplitStratified(settings.SearchValidation, Experiment.ValidationSeed);
        Log($"search: {train.Count} training images, {validation.Count} validation images; teacher {teacherRun.FinalAccuracy:P2} test accuracy");
        SearchResult result = StudentSearch.Run(teacher, train, validation, options, output, Log, cancellationToken);
        string command = "gpudistill " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
        SearchReport.Write(result, output, SearchReport.WinnerRecipe(result, recipe), teacherRun.TrainSeconds, command);
        AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
            $"winner [bold]{Markup.Escape(result.Winner.Architecture)}[/]: {result.Winner.Parameters:N0} parameters, {result.Winner.MillisecondsBatch1:F4} ms/image, validation {result.Winner.ValidationAccuracy:P2}; search {result.SearchSeconds:F0} s (teacher {teacherRun.TrainSeconds:F0} s); files in {Markup.Escape(output)}"));
        return 0;
    }
}
