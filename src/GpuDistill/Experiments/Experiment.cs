using System.Globalization;
using System.Text.Json;
using GpuDistill.Compute;
using GpuDistill.Data;
using GpuDistill.Distributed;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>
/// Runs a recipe: trains (or reuses) the teacher, then every student with every method (offline) and scheme and
/// every seed, each resumable from its last completed epoch, and writes the results with the exact recipe beside them.
/// </summary>
/// <param name="recipe">What to run.</param>
/// <param name="outputDirectory">Where the teacher, checkpoints and results go.</param>
/// <param name="progress">Receives the trainers' progress.</param>
/// <param name="log">Receives one-line messages (data used, teacher reused, ...).</param>
public sealed class Experiment(Recipe recipe, string outputDirectory, IProgress<TrainingProgress>? progress, Action<string> log)
{
    /// <summary>A teacher-output cache directory (<see cref="Caching.TeacherCacheWriter"/>) to read instead of running
    /// the teacher; null (the default) to run it.</summary>
    public string? TeacherCache { get; init; }

    /// <summary>Runs everything; finished runs found in the checkpoints are not trained again.</summary>
    /// <param name="resume">Continue unfinished runs from their last completed epoch.</param>
    /// <param name="cancellationToken">Stops after the current step.</param>
    /// <returns>The results (also written to the output directory).</returns>
    public ExperimentResults Run(bool resume, CancellationToken cancellationToken = default)
    {
        (ImageDataset train, ImageDataset? validation, ImageDataset test) = Prepare();
        // In a distributed run only rank 0 writes files (Distributed.DistributedTraining.WritesFiles).
        if (DistributedTraining.WritesFiles) AtomicFile.WriteAllText(Path.Combine(outputDirectory, "recipe.json"), RecipeLoader.ToJson(recipe));
        IScheme[] schemes = [.. recipe.Schemes.Select(name => recipe.Settings.Registry.Scheme(name).Create(recipe.Settings[name]))];
        string[] refusals = [.. schemes.SelectMany(s => recipe.Students.Select(s.CannotTrain)).OfType<string>()];
        if (refusals.Length > 0)
            throw new ArgumentException($"The recipe's schemes cannot train some of its students: {string.Join(" ", refusals)} Drop that scheme or student.", nameof(recipe));
        // Every offline method reads the teacher; a recipe of schemes that read none (lifelong) trains none.
        bool readsTeacher = recipe.Methods.Count > 0 || schemes.Any(s => s.ReadsTeacher);
        (DistillModel? teacher, TrainingRun teacherRun) = readsTeacher ? TrainOrLoadTeacher(train, test, cancellationToken) : (null, ExperimentResults.NoTeacher);
        using DistillModel? disposeTeacher = teacher;
        if (teacher is null) log($"no teacher trained: {string.Join(", ", recipe.Schemes)} read none");
        else log($"teacher {teacherRun.Model}: {teacherRun.FinalAccuracy:P2} test accuracy, {teacher.ParameterCount:N0} parameters");
        if (TeacherCache is not null && recipe.Data.Augment)
            throw new ArgumentException("A teacher cache holds the outputs of the images as stored; with augmentation the teacher must see each augmented batch: drop --augment or --teacher-cache.", nameof(TeacherCache));
        if (TeacherCache is not null && recipe.Data.AugmentedCopies > 0)
            throw new ArgumentException("A teacher cache holds the outputs of the images as stored, not of their augmented copies: drop data.augmentedCopies or --teacher-cache.", nameof(TeacherCache));
        // The teacher trained on the images as stored; the students train on those and their fixed moved copies.
        if (recipe.Data.AugmentedCopies > 0)
        {
            train = train.WithAugmentedCopies(recipe.Data.AugmentedCopies, AugmentedCopiesSeed);
            log($"students' training set: {train.Source}, {train.Count} images");
        }
        using TeacherOutputs? teacherOutputs = teacher is null ? null : TeacherCache is null
            ? TeacherOutputs.Create(teacher, train, cache: !recipe.Data.Augment, TeacherLayers(teacher))
            : TeacherOutputs.FromCache(teacher, train, TeacherCache, TeacherLayers(teacher));
        if (teacherOutputs is not null)
        {
            log($"teacher outputs: {(TeacherCache is not null ? $"read from the cache in {TeacherCache}" : teacherOutputs.IsCached ? "computed once (at the first batch that needs them) and cached" : "computed live each step")}" +
                (teacherOutputs.FeatureShapes.Count == 0 ? "" : $", with layers {string.Join(", ", teacherOutputs.FeatureShapes.Keys)}"));
        }

        // A pilot's rows read the validation split; the test set stays unread but for the teacher's accuracy.
        ImageDataset rowsRead = recipe.Data.RowsOnValidation ? validation! : test;
        var context = new SchemeContext(recipe, train, rowsRead, teacher, teacherOutputs, outputDirectory, resume, progress, log, cancellationToken);
        var runs = new List<MethodRun>();
        var tuning = new List<TuningResult>();
        foreach (string student in recipe.Students)
        {
            // Tuning reads the validation split only; the final rows below read the test set.
            IReadOnlyList<MethodSection> methods = recipe.Tuning is { } tune && validation is not null
                ? [.. recipe.Methods.Select(m => Tune(context, validation, tune, m, student, tuning))]
                : recipe.Methods;
            foreach (IScheme scheme in methods.Select(m => (IScheme)new OfflineScheme(m)).Concat(schemes))
            {
                foreach (int seed in recipe.Seeds)
                {
                    foreach (SchemeRow row in scheme.Run(context, student, seed))
                    {
                        runs.Add(new MethodRun(row.Role.Length == 0 ? scheme.Name : $"{scheme.Name} ({row.Role})", student, row.Run,
                            row.Note, row.Fidelity));
                    }
                }
                // Each finished row is in the results at once: a long run stopped later keeps what it finished.
                WriteResults();
            }
        }

        return WriteResults();

        ExperimentResults WriteResults()
        {
            string data = Describe(train, validation, test) + (recipe.Data.RowsOnValidation ? "; the rows read the validation split, not the test set" : "");
            // The teacher's accuracy is the test set's: against rows on the validation split no gap is recovered.
            var soFar = new ExperimentResults(recipe.Name, data, MachineDescription.Current,
                ComputeDevice.Default.ToString(), teacherRun, [.. runs], Summarise(recipe.Data.RowsOnValidation ? ExperimentResults.NoTeacher : teacherRun, runs), [.. tuning])
            { RowsOnValidation = recipe.Data.RowsOnValidation };
            if (DistributedTraining.WritesFiles) ResultsWriter.Write(soFar, outputDirectory);
            return soFar;
        }
    }

    /// <summary>
    /// Trains <paramref name="method"/> once per grid point (one seed, the tuning epochs) and judges each on the
    /// validation split by its last epoch; returns the method at its best point (the first of equals). A point that
    /// diverges counts as the worst. Without a grid, the method as it is.
    /// </summary>
    private MethodSection Tune(SchemeContext context, ImageDataset validation, TuningSection tune, MethodSection method,
        string student, List<TuningResult> results)
    {
        // A method without a grid (the student alone among them) is its own only point: its validation accuracy at
        // the tuning schedule is the baseline the other methods' points are read against.
        IReadOnlyList<GridPoint> grid = method.Grid.Count > 0 ? method.Grid : [new GridPoint(method.Loss.ToString(), method.Set)];
        SchemeContext onValidation = context with
        {
            Test = validation,
            Recipe = recipe with { Training = recipe.Training with { Epochs = tune.Epochs } },
        };
        var points = new List<TuningPoint>();
        for (int k = 0; k < grid.Count; k++)
        {
            GridPoint point = grid[k];
            MethodSection candidate = method.At(point);
            try
            {
                (DistillModel model, TrainingRun run) = onValidation.TrainModel($"tune-{method.Name}-{point.FileName}", student, tune.Seed,
                    candidate.Loss, context.TeacherOutputs, candidate.SettingsOver(recipe.Settings));
                model.Dispose();
                points.Add(new TuningPoint(point, run.FinalAccuracy, run.TrainSeconds));
            }
            catch (TrainingDivergedException e)
            {
                log($"tuning {method.Name} at {point}: {e.Message}");
                points.Add(new TuningPoint(point, double.NaN, 0, e.What));
            }
            log($"tuning {method.Name} on {student}, point {k + 1} of {grid.Count} ({point}): validation accuracy {points[^1].ValidationAccuracy:P2}");
        }
        int picked = 0;
        for (int k = 1; k < points.Count; k++)
        {
            if (points[k].ValidationAccuracy > points[picked].ValidationAccuracy || double.IsNaN(points[picked].ValidationAccuracy)) picked = k;
        }
        results.Add(new TuningResult(method.Name, student, points, picked, tune.Epochs, tune.Seed));
        if (method.Grid.Count == 0) return method;
        log($"tuning {method.Name} on {student}: picked {grid[picked]}");
        return method.At(grid[picked]) with { RunName = $"{method.Name}-{grid[picked].FileName}" };
    }

    /// <summary>Every teacher layer a feature term of the recipe reads, for every student of the recipe.</summary>
    private HashSet<string> TeacherLayers(DistillModel teacher)
    {
        var layers = new HashSet<string>(StringComparer.Ordinal);
        foreach (string student in recipe.Students)
        {
            using DistillModel model = ModelFactory.Create(student, 0);
            foreach (MethodSection method in recipe.Methods)
            {
                foreach (IFeatureTerm term in method.Loss.Create(recipe.Settings).Terms.Select(t => t.Term).OfType<IFeatureTerm>())
                {
                    term.Bind(model, teacher);
                    layers.UnionWith(term.TeacherLayers);
                }
            }
        }
        return layers;
    }

    /// <summary>Trains the recipe's teacher (or finds it trained) and nothing else.</summary>
    /// <param name="cancellationToken">Stops after the current step.</param>
    /// <returns>The teacher's run.</returns>
    public TrainingRun RunTeacherOnly(CancellationToken cancellationToken = default)
    {
        (ImageDataset train, _, ImageDataset test) = Prepare();
        (DistillModel teacher, TrainingRun run) = TrainOrLoadTeacher(train, test, cancellationToken);
        teacher.Dispose();
        return run;
    }

    private (ImageDataset Train, ImageDataset? Validation, ImageDataset Test) Prepare()
    {
        RecipeLoader.Validate(recipe, "recipe");
        Directory.CreateDirectory(outputDirectory);
        ComputeDevice.SetDefault(ComputeDevice.Open(recipe.Accelerator));
        log($"loss kernels on: {ComputeDevice.Default.SelectionReason}");
        (ImageDataset train, ImageDataset test) = FashionMnist.Load(recipe.Data.Directory);
        ImageDataset? validation = null;
        if (recipe.Data.ValidationPerClass > 0) (train, validation) = train.SplitStratified(recipe.Data.ValidationPerClass, ValidationSeed);
        log($"data: {Describe(train, validation, test)}");
        return (train, validation, test);
    }

    /// <summary>The seed of the validation split: fixed, so every run of every recipe holds out the same images.</summary>
    public const int ValidationSeed = 2026;

    /// <summary>The seed of <see cref="DataSection.AugmentedCopies"/>' moves: fixed, so every row sees the same copies.</summary>
    public const int AugmentedCopiesSeed = 2027;

    private static string Describe(ImageDataset train, ImageDataset? validation, ImageDataset test) =>
        $"{train.Source}; train {train.Count} images{(validation is null ? "" : $", validation {validation.Count} (held out, stratified)")}, test {test.Count} images";

    /// <summary>
    /// Trains the teacher once per output directory and recipe: its weights and record are kept under
    /// <c>teacher/</c>, keyed by architecture, seed, epochs and data, and reused by later runs.
    /// </summary>
    private (DistillModel Teacher, TrainingRun Run) TrainOrLoadTeacher(ImageDataset train, ImageDataset test, CancellationToken cancellationToken)
    {
        TeacherSection spec = recipe.Teacher;
        string directory = TeacherDirectory(recipe, outputDirectory);
        string weights = Path.Combine(directory, "teacher.pt"), record = Path.Combine(directory, "teacher.json");
        DistillModel teacher = ModelFactory.Create(spec.Model, spec.Seed);
        if (File.Exists(record) && Checkpoint.TryLoad(teacher, weights))
        {
            TrainingRun saved = JsonSerializer.Deserialize<TrainingRun>(File.ReadAllText(record), ResultJson.Options)!;
            log($"teacher reused from {directory}");
            return (teacher, saved);
        }

        var trainer = new Trainer(spec.Training.ToOptions(spec.Seed, recipe.Data.Augment), progress);
        TrainingRun run = trainer.Fit($"teacher/{spec.Model}", teacher, LossSpec.ForMethod("none").Create(recipe.Settings), train, test,
            null, Path.Combine(directory, "checkpoint"), resume: true, cancellationToken);
        if (DistributedTraining.WritesFiles)
        {
            Checkpoint.SaveAtomic(teacher, weights);
            AtomicFile.WriteAllText(record, JsonSerializer.Serialize(run, ResultJson.Options));
        }
        return (teacher, run);
    }

    /// <summary>
    /// Where a recipe's teacher is kept in <paramref name="outputDirectory"/>: <c>teacher/</c> and a key of architecture,
    /// seed, epochs and data (a teacher trained without the validation split is another teacher).
    /// </summary>
    /// <param name="recipe">The recipe.</param>
    /// <param name="outputDirectory">The run's output directory.</param>
    /// <returns>The directory of <c>teacher.pt</c> and <c>teacher.json</c>.</returns>
    public static string TeacherDirectory(Recipe recipe, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        TeacherSection spec = recipe.Teacher;
        string split = recipe.Data.ValidationPerClass > 0 ? $"-val{recipe.Data.ValidationPerClass}" : "";
        return Path.Combine(outputDirectory, "teacher", string.Create(CultureInfo.InvariantCulture,
            $"{spec.Model}-seed{spec.Seed}-e{spec.Training.Epochs}-{(recipe.Data.Directory is null ? "embedded" : "full")}{split}"));
    }

    /// <summary>Mean and spread over seeds, and the share of the teacher-student gap each method closes.</summary>
    public static IReadOnlyList<SummaryRow> Summarise(TrainingRun teacher, IReadOnlyList<MethodRun> runs)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(runs);
        var rows = new List<SummaryRow>();
        foreach (var group in runs.GroupBy(r => (r.Method, r.Student)))
        {
            double[] accuracies = group.Select(r => r.Run.FinalAccuracy).ToArray();
            double mean = accuracies.Average();
            double std = accuracies.Length > 1
                ? Math.Sqrt(accuracies.Sum(a => (a - mean) * (a - mean)) / (accuracies.Length - 1)) : 0;
            double? alone = runs.Where(r => r.Method == "none" && r.Student == group.Key.Student)
                .Select(r => r.Run.FinalAccuracy).DefaultIfEmpty(double.NaN).Average();
            double? gap = alone is double a && !double.IsNaN(a) && teacher.FinalAccuracy - a > 1e-9
                ? (mean - a) / (teacher.FinalAccuracy - a) : null;
            int epochs = group.Sum(r => r.Run.Epochs.Count);
            var split = new StepTimeSplit(
                group.Sum(r => r.Run.Epochs.Sum(e => e.Split.Teacher)) / epochs,
                group.Sum(r => r.Run.Epochs.Sum(e => e.Split.StudentForward)) / epochs,
                group.Sum(r => r.Run.Epochs.Sum(e => e.Split.Loss)) / epochs,
                group.Sum(r => r.Run.Epochs.Sum(e => e.Split.BackwardAndStep)) / epochs,
                group.Sum(r => r.Run.Epochs.Sum(e => e.Split.Batches)) / epochs);
            TrainingRun first = group.First().Run;
            double? agreement = group.All(r => r.Fidelity is not null) ? group.Average(r => r.Fidelity!.Agreement) : null;
            double? ece = group.All(r => r.Fidelity is not null) ? group.Average(r => r.Fidelity!.Ece) : null;
            rows.Add(new SummaryRow(group.Key.Method, group.Key.Student, first.Loss, accuracies.Length, mean, std, gap,
                first.Parameters, group.Average(r => r.Run.TrainSeconds), split, first.AdapterParameters, group.First().Note,
                agreement, ece));
        }
        return rows;
    }
}
