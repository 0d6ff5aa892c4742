using System.Text.Json;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Training;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// The lifelong scheme trained for real on a small slice (the dense student, one or two epochs a task): every method
/// in both scenarios gives its rows, matrices and heatmaps; a sequence stopped in the middle of task 3 resumes there
/// and ends where an uninterrupted one does; a memory the data cannot fill stops before any training.
/// </summary>
public sealed class LifelongSchemeTests() : TrainingFixture(20, 10)
{
    [Test]
    public void EveryMethodRunsThroughTheSequenceInBothScenariosAndWritesItsReport()
    {
        var settings = new LifelongSettings { Memory = 40 };
        IReadOnlyList<SchemeRow> rows = Run(settings, epochs: 1, RunDirectory);

        string[] methods = ["fine-tuning", "joint", "LwF", "replay", "replay (NME)", "iCaRL", "iCaRL (NME)"];
        Assert.That(rows.Select(r => r.Role), Is.EqualTo(methods.Select(m => $"task-IL, {m}").Concat(methods.Select(m => $"class-IL, {m}"))));
        Assert.That(rows.All(r => r.Run.FinalAccuracy is >= 0 and <= 1), Is.True);

        List<SequenceResult> results = Results(RunDirectory);
        Assert.That(results, Has.Count.EqualTo(14));
        Assert.That(results.All(r => r.Accuracy.Length == 5 && r.Accuracy.All(row => row.Length == 5)), Is.True);
        Assert.That(results.Where(r => r.Classifier == "outputs").SelectMany(r => r.Accuracy.SelectMany(row => row)).All(double.IsFinite), Is.True,
            "every output accuracy was measured (NaN would mean a diverged model)");
        SequenceResult fineTuning = results.Single(r => r.Scenario == "class" && r.Method == "fine-tuning");
        Assert.That(fineTuning.Forgetting, Is.GreaterThan(0), "class-incremental fine-tuning forgets");
        // Task-incrementally, the nearest-mean classifier answers on a task once its classes have exemplars.
        SequenceResult nme = results.Single(r => r.Scenario == "task" && r.Method == "icarl" && r.Classifier == "nme");
        Assert.That(double.IsNaN(nme.Accuracy[0][1]) && !double.IsNaN(nme.Accuracy[1][1]), Is.True);

        string report = Path.Combine(RunDirectory, "lifelong");
        Assert.That(File.ReadAllText(Path.Combine(report, "results.md")), Does.Contain("## Goals of issue 18").And.Contain("### class-IL, iCaRL (NME)"));
        Assert.That(Directory.GetFiles(Path.Combine(report, "heatmaps"), "*.png"), Has.Length.EqualTo(14));
    }

    [Test]
    public void ASequenceStoppedInTheMiddleOfTask3ResumesThereAndEndsAsAnUninterruptedOne()
    {
        var settings = new LifelongSettings { Scenarios = ["class"], Methods = ["lwf", "icarl"], Memory = 40, Nme = false };
        string whole = Path.Combine(RunDirectory, "whole"), stopped = Path.Combine(RunDirectory, "stopped");
        // Batches of 10: four steps an epoch on a task's 40 images, so the run can stop within an epoch.
        Run(settings, epochs: 2, whole, batchSize: 10);

        using var cancel = new CancellationTokenSource();
        var stopInTask3 = new StopWhen(p => p.Run.EndsWith("/task3", StringComparison.Ordinal) && p.Epoch == 2 && p.Step == 1 && p.Note is null, cancel);
        Assert.Catch<OperationCanceledException>(() => Run(settings, epochs: 2, stopped, batchSize: 10, progress: stopInTask3, token: cancel.Token));
        string lwf = Directory.GetDirectories(Path.Combine(stopped, "checkpoints", "lifelong"), "lwf-*", SearchOption.AllDirectories).Single();
        Assert.That(Directory.GetFiles(Path.Combine(lwf, "task3", "train"), "epoch-1.model.pt"), Has.Length.EqualTo(1), "task 3 stopped after its first epoch");
        Assert.That(Directory.Exists(Path.Combine(lwf, "task4")), Is.False);

        var remarks = new List<TrainingProgress>();
        Run(settings, epochs: 2, stopped, batchSize: 10, progress: new StopWhen(p => { if (p.Note is not null) remarks.Add(p); return false; }, cancel), resume: true);
        // The shared first task and LwF's task 2 (warm-up and training) and task 3's warm-up come from their checkpoints.
        Assert.That(remarks.Where(p => p.Run.Contains("/lwf/", StringComparison.Ordinal) || p.Run.EndsWith("/task1", StringComparison.Ordinal))
            .Select(p => (p.Run[(p.Run.IndexOf("/task", StringComparison.Ordinal) + 1)..], p.Note![..9])),
            Is.EqualTo(new[] { ("task1", "finished "), ("task2/warmup", "finished "), ("task2", "finished "), ("task3/warmup", "finished "), ("task3", "resuming ") }),
            "tasks 1-2 reused, task 3 continued from its checkpoint");

        List<SequenceResult> expected = Results(whole), actual = Results(stopped);
        Assert.That(actual.Select(r => r.Method), Is.EqualTo(expected.Select(r => r.Method)));
        for (int i = 0; i < expected.Count; i++)
            Assert.That(actual[i].Accuracy, Is.EqualTo(expected[i].Accuracy), $"{expected[i].Label}: the resumed sequence's accuracy matrix");
    }

    [Test]
    public void AConvolutionalStudentStaysFiniteThroughTheSequence()
    {
        // Before the library turned libtorch's oneDNN off, a convolutional student's weights turned NaN after a task;
        // the trainer stops at the first non-finite logit, so a finished sequence means finite outputs throughout.
        var settings = new LifelongSettings { Scenarios = ["class"], Methods = ["lwf", "icarl"], Memory = 40, Nme = false };
        IReadOnlyList<SchemeRow> rows = Run(settings, epochs: 1, RunDirectory, student: "small-cnn");
        Assert.That(rows.Select(r => r.Role), Is.EqualTo(new[] { "class-IL, LwF", "class-IL, iCaRL" }));
        Assert.That(Results(RunDirectory, "small-cnn").SelectMany(r => r.Accuracy.SelectMany(row => row)).All(double.IsFinite), Is.True);
    }

    [Test]
    public void AnExperimentOfTheLifelongSchemeAloneTrainsNoTeacher()
    {
        var recipe = new Recipe
        {
            Name = "lifelong-only",
            Methods = [],
            Schemes = ["lifelong"],
            Training = new ScheduleSection { Epochs = 1, BatchSize = 50 },
            Students = ["mlp"],
            Seeds = [1],
            Settings = MethodSettingsMap.Defaults.With("lifelong", new LifelongSettings { Methods = ["fine-tuning"], Tasks = 2 }),
        };
        var log = new List<string>();
        ExperimentResults results = new Experiment(recipe, RunDirectory, null, log.Add).Run(resume: false);

        Assert.That(results.HasTeacher, Is.False);
        Assert.That(Directory.Exists(Path.Combine(RunDirectory, "teacher")), Is.False, "no teacher was trained");
        Assert.That(log, Has.Some.Contains("no teacher trained: lifelong read none"));
        Assert.That(results.Summary.Select(r => r.Method), Has.All.StartsWith("lifelong"));
        Assert.That(results.Summary.Select(r => r.GapRecovered), Has.All.Null);
        Assert.That(File.ReadAllText(Path.Combine(RunDirectory, "results.md")), Does.Contain("- teacher: none"));
        Assert.That(File.Exists(Path.Combine(RunDirectory, "final-accuracy.png")));
    }

    [Test]
    public void AMemoryTheDataCannotFillStopsBeforeAnyTraining()
    {
        var settings = new LifelongSettings { Memory = 2000, Methods = ["icarl"] };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Run(settings, epochs: 1, RunDirectory))!;
        Assert.That(error.ParamName, Is.EqualTo("memory"));
        Assert.That(error.Message, Does.Contain("class 0 has only 20 training images").And.Contain("40 at most"));
        Assert.That(Directory.Exists(Path.Combine(RunDirectory, "checkpoints")), Is.False);
    }

    [Test]
    public void ASequenceResumedWithAnotherScheduleIsRefusedNotReused()
    {
        // The folders are named after the task split, method and memory; the schedule is in their run.json.
        var settings = new LifelongSettings { Scenarios = ["task"], Methods = ["fine-tuning"], Tasks = 2 };
        Run(settings, epochs: 1, RunDirectory, batchSize: 50);
        Assert.That(Run(settings, epochs: 1, RunDirectory, batchSize: 50, resume: true), Is.Not.Empty, "the same run is reused");
        Assert.That(() => Run(settings, epochs: 1, RunDirectory, batchSize: 40, resume: true), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("\"batchSize\":50").And.Message.Contains("\"batchSize\":40"));
    }

    private IReadOnlyList<SchemeRow> Run(LifelongSettings settings, int epochs, string directory, int batchSize = 50, IProgress<TrainingProgress>? progress = null,
        bool resume = false, string student = "mlp", CancellationToken token = default)
    {
        // The lifelong scheme never reads the recipe's teacher: the context has none, and reading it would throw.
        var recipe = new Recipe
        {
            Training = new ScheduleSection { Epochs = epochs, BatchSize = batchSize },
            Students = [student],
            Seeds = [1],
            Settings = MethodSettingsMap.Defaults.With("lifelong", settings),
        };
        var context = new SchemeContext(recipe, Train, Test, null, null, directory, resume, progress, _ => { }, token);
        return MethodRegistry.Default.Scheme("lifelong").Create(recipe.Settings["lifelong"]).Run(context, student, 1);
    }

    private static List<SequenceResult> Results(string directory, string student = "mlp") =>
        JsonSerializer.Deserialize<List<SequenceResult>>(File.ReadAllText(Path.Combine(directory, "lifelong", "seeds", $"{student}-seed1.json")), ResultJson.Options)!;

    /// <summary>Reports synchronously (unlike <see cref="Progress{T}"/>) and cancels when the condition holds.</summary>
    private sealed class StopWhen(Func<TrainingProgress, bool> condition, CancellationTokenSource cancel) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (condition(value)) cancel.Cancel();
        }
    }
}
