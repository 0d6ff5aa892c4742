using System.Globalization;
using System.Text.Json;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// Lifelong (continual) distillation: the student learns Fashion-MNIST as a sequence of tasks (5 tasks of 2
/// classes by default), task-incrementally (a head per task, task identity at test time) and class-incrementally
/// (one head over the classes seen so far). Rows: fine-tuning (lower bound), joint training on every task so far
/// (upper bound), LwF (Li and Hoiem 2016: the previous model's outputs on the new task's images as soft targets, T =
/// 2, after a warm-up of the new head), replay of a herded exemplar memory without distillation, and with
/// distillation on the old classes (iCaRL-style, Rebuffi et al. 2017; nearest-mean-of-exemplars classifier as an
/// option). Each row's accuracy is A_T; the accuracy matrices, forgetting and heatmaps go to <c>lifelong/</c> in the
/// output directory.
/// </summary>
/// <param name="settings">The tasks, methods, memory and distillation settings.</param>
public sealed class LifelongScheme(LifelongSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<LifelongSettings>("lifelong",
        "Lifelong distillation over a task sequence: fine-tuning, joint, LwF (Li & Hoiem 2016), replay, iCaRL-style replay with KD (Rebuffi et al. 2017).",
        s => new LifelongScheme(s));

    /// <inheritdoc/>
    public string Name => "lifelong";

    /// <inheritdoc/>
    /// <remarks>Its teachers are the student's own earlier models.</remarks>
    public bool ReadsTeacher => false;

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        TaskSplit split = TaskSplit.Create(context.Train.ClassCount, settings.Tasks, settings.ClassOrder, settings.ShuffleClasses ? seed : null);
        if (settings.Methods.Any(m => m is "replay" or "icarl")) ExemplarMemory.RequireFits(settings.Memory, split, context.Train.CountPerClass());
        context.Log($"lifelong, {student}, seed {seed}: tasks {split}");

        var results = new List<SequenceResult>();
        long parameters;
        using (var sequence = new LifelongSequence(context, settings, split, student, seed))
        {
            foreach (string scenario in LifelongSettings.ScenarioNames.Where(settings.Scenarios.Contains))
            {
                foreach (string method in LifelongSettings.MethodNames.Where(settings.Methods.Contains))
                    results.AddRange(sequence.Run(scenario, method));
            }
            parameters = sequence.Parameters;
        }

        string directory = Path.Combine(context.OutputDirectory, "lifelong");
        AtomicFile.WriteAllText(Path.Combine(directory, "seeds", $"{student}-seed{seed}.json"), JsonSerializer.Serialize(results, ResultJson.Options));
        WriteReport(context, directory);
        return [.. results.Select(r => new SchemeRow(r.Label, Record(r, student, parameters),
            string.Create(CultureInfo.InvariantCulture, $"accuracy is A_T; F_T {r.Forgetting * 100:F1} points (seed {r.Seed}); matrices in lifelong/results.md")))];
    }

    /// <summary>A row's record: A_T as its accuracy, the whole sequence's training time.</summary>
    private static TrainingRun Record(SequenceResult result, string student, long parameters)
    {
        var last = new EpochRecord(result.Accuracy.Length, double.NaN, new Dictionary<string, double>(), result.AverageAccuracy,
            result.TrainSeconds, new StepTimeSplit(0, 0, 0, 0));
        return new TrainingRun($"lifelong/{result.Scenario}/{result.Method}/{result.Classifier}/{student}/seed{result.Seed}", student,
            parameters, result.Seed, result.Loss, [last]);
    }

    /// <summary>Rewrites the report from every seed of the recipe finished so far.</summary>
    private void WriteReport(SchemeContext context, string directory)
    {
        var all = new List<SequenceResult>();
        foreach (string student in context.Recipe.Students)
        {
            foreach (int seed in context.Recipe.Seeds)
            {
                string path = Path.Combine(directory, "seeds", $"{student}-seed{seed}.json");
                if (File.Exists(path)) all.AddRange(JsonSerializer.Deserialize<List<SequenceResult>>(File.ReadAllText(path), ResultJson.Options)!);
            }
        }
        string order = settings.ShuffleClasses ? "shuffled per seed" : "fixed";
        LifelongReport.Write(directory, $"Lifelong distillation: {context.Recipe.Name}", [
            $"data: {context.Train.Source}; {context.Train.Count} training and {context.Test.Count} test images",
            $"students: {string.Join(", ", context.Recipe.Students)}; seeds: {string.Join(", ", all.Select(r => r.Seed).Distinct())}",
            $"tasks: {settings.Tasks}, class order {order}: {string.Join("; ", all.Select(r => r.Split).Distinct())}",
            string.Create(CultureInfo.InvariantCulture,
                $"each task: {context.Recipe.Training.Epochs} epochs, batch {context.Recipe.Training.BatchSize}, SGD (Nesterov) lr {context.Recipe.Training.LearningRate:G} cosine, weight decay {context.Recipe.Training.WeightDecay:G}"),
            string.Create(CultureInfo.InvariantCulture,
                $"LwF: T = {settings.Temperature:G}, lambda_o = {settings.DistillationWeight:G}, {settings.WarmupEpochs} warm-up epoch(s) of the head at {(settings.WarmupLearningRate is double rate ? $"lr {rate:G}" : "a tenth of the learning rate")}; replay: memory {settings.Memory} (herding); iCaRL-style: KD on the old classes, T = {settings.Temperature:G}, weight {settings.DistillationWeight:G}"),
        ], all);
    }
}
