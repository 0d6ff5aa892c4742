using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// Tuning on the validation split: the held-out images are never trained on, every grid point is tried and recorded
/// with its validation accuracy, and the final rows (which read the test set) use the best point.
/// </summary>
public sealed class TuningTests
{
    [Test]
    public void TheValidationSplitIsHeldOutStratifiedAndFixed()
    {
        (ImageDataset train, _) = FashionMnist.LoadEmbedded();
        (ImageDataset rest, ImageDataset held) = train.SplitStratified(50, Experiment.ValidationSeed);
        (ImageDataset again, ImageDataset heldAgain) = train.SplitStratified(50, Experiment.ValidationSeed);
        Assert.Multiple(() =>
        {
            Assert.That(held.CountPerClass(), Is.All.EqualTo(50));
            Assert.That(rest.Count + held.Count, Is.EqualTo(train.Count));
            Assert.That(rest.CountPerClass().Zip(held.CountPerClass(), (a, b) => a + b), Is.EqualTo(train.CountPerClass()),
                "every image is in exactly one part");
            Assert.That(Hashes(heldAgain), Is.EqualTo(Hashes(held)), "the same images every time");
            Assert.That(again.Count, Is.EqualTo(rest.Count));
        });
        Assert.That(() => train.SplitStratified(600, 1), Throws.ArgumentException.With.Message.Contains("none to train on"));
    }

    [Test]
    public void EveryGridPointIsTriedOnValidationAndTheBestMakesTheFinalRows()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-tuning-").FullName;
        try
        {
            var recipe = new Recipe
            {
                Name = "tuning",
                Data = new DataSection { ValidationPerClass = 30 },
                Teacher = new TeacherSection { Model = "small-cnn", Training = new ScheduleSection { Epochs = 1 } },
                Students = ["mlp"],
                Methods = [MethodSection.BuiltIn(MethodRegistry.Default.Method("none")),
                    new MethodSection("kd", LossSpec.Parse("kd:0.9,ce:0.1")) { Grid = TuningGrid.Of("kd:0.9,ce:0.1").Cross("kd.temperature", "1", "8") }],
                Training = new ScheduleSection { Epochs = 1 },
                Tuning = new TuningSection { Epochs = 1 },
                Seeds = [1],
            };
            ExperimentResults results = new Experiment(recipe, output, null, _ => { }).Run(resume: false);

            Assert.That(results.Tuning!.Select(t => t.Method), Is.EqualTo(new[] { "none", "kd" }));
            TuningResult none = results.Tuning![0], kd = results.Tuning[1];
            int best = kd.Points[1].ValidationAccuracy > kd.Points[0].ValidationAccuracy ? 1 : 0;
            SummaryRow row = results.Summary.Single(r => r.Method == "kd");
            Assert.Multiple(() =>
            {
                Assert.That(kd.Points.Select(p => p.Point.ToString()), Is.EqualTo(new[] { "kd:0.9,ce:0.1 kd.temperature=1", "kd:0.9,ce:0.1 kd.temperature=8" }));
                Assert.That(kd.Points.Select(p => p.ValidationAccuracy), Is.All.InRange(0.0, 1.0));
                Assert.That(kd.Picked, Is.EqualTo(best));
                // The student alone has no grid: its one point at the tuning schedule is the baseline on validation.
                Assert.That(none.Points.Select(p => p.Point.ToString()), Is.EqualTo(new[] { "ce:1" }));
                Assert.That(none.Points[0].ValidationAccuracy, Is.InRange(0.0, 1.0));
                Assert.That(results.Data, Does.Contain("validation 300 (held out, stratified)"));
                Assert.That(row.Agreement, Is.InRange(0.0, 1.0));
                Assert.That(row.Ece, Is.InRange(0.0, 1.0));
                string markdown = File.ReadAllText(Path.Combine(output, "results.md"));
                Assert.That(markdown, Does.Contain("## Tuning on the validation split").And.Contain($"**`{kd.Points[best].Point}`**"));
                Assert.That(File.ReadAllText(Path.Combine(output, "results.csv")).Split('\n')[0], Does.Contain("agreement,ece"));
                Assert.That(File.ReadAllText(Path.Combine(output, "recipe.json")), Does.Contain("\"grid\"").And.Contain("\"kd.temperature\": \"8\""));
            });
            // Each point's run is named after the point itself, and the final rows after the method and its pick.
            string pick = $"kd0.9-ce0.1-kd.temperature={(best == 0 ? 1 : 8)}";
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", $"tune-kd-{pick}", "mlp", "seed1")));
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", $"kd-{pick}", "mlp", "seed1")));
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", "kd")), Is.False);
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", "tune-none-ce1", "mlp", "seed1")));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Test]
    public void AGrownGridReusesItsFinishedPointsAndTrainsOnlyTheNewOnes()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-grid-").FullName;
        try
        {
            Recipe recipe = KdRecipe(TuningGrid.Of("kd:0.9,ce:0.1").Cross("kd.temperature", "1"));
            new Experiment(recipe, output, null, _ => { }).Run(resume: false);

            // The grid grows in front of the finished point: its index changes, its name does not. Whichever point it
            // picks, the final rows train (or reuse) under that point's name.
            var log = new List<string>();
            Recipe grown = KdRecipe(TuningGrid.Of("kd:0.9,ce:0.1").Cross("kd.temperature", "8", "1"));
            ExperimentResults results = new Experiment(grown, output, Remarks(log), _ => { }).Run(resume: true);

            Assert.That(results.Tuning!.Single(t => t.Method == "kd").Points, Has.Count.EqualTo(2));
            Assert.That(log, Has.Some.Contains("tune-kd-kd0.9-ce0.1-kd.temperature=1/mlp/seed1: finished earlier"));
            Assert.That(log, Has.None.Contains("tune-kd-kd0.9-ce0.1-kd.temperature=8/mlp/seed1: finished earlier"));
            string picked = results.Tuning!.Single(t => t.Method == "kd") is var kd && kd.Picked == 0 ? "8" : "1";
            Assert.That(log.Any(l => l.Contains($"kd-kd0.9-ce0.1-kd.temperature={picked}/mlp/seed1: finished earlier", StringComparison.Ordinal)),
                Is.EqualTo(picked == "1"), "the first run's row at T = 1 is reused only when T = 1 is picked again");
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Test]
    public void ResumingARunWhoseSettingsChangedIsRefusedAndNamesBoth()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-identity-").FullName;
        try
        {
            Recipe recipe = KdRecipe([]);
            new Experiment(recipe, output, null, _ => { }).Run(resume: false);
            var log = new List<string>();
            new Experiment(recipe, output, Remarks(log), _ => { }).Run(resume: true);
            Assert.That(log, Has.Some.Contains("kd/mlp/seed1: finished earlier"), "the same run is reused");
            Assert.That(File.ReadAllText(Path.Combine(output, "checkpoints", "kd", "mlp", "seed1", "run.json")),
                Does.Contain("\"loss\": \"kd:0.9,ce:0.1\"").And.Contain("\"temperature\": 4"));

            // The same method name at another temperature, or on another schedule, is another run.
            Recipe hotter = recipe with { Methods = [recipe.Methods[0], recipe.Methods[1] with { Set = new Dictionary<string, string> { ["kd.temperature"] = "8" } }] };
            Assert.That(() => new Experiment(hotter, output, null, _ => { }).Run(resume: true),
                Throws.InstanceOf<InvalidDataException>().With.Message.Contains("\"temperature\":4").And.Message.Contains("\"temperature\":8")
                    .And.Message.Contains(Path.Combine("checkpoints", "kd", "mlp", "seed1")));
            Recipe longer = recipe with { Training = recipe.Training with { Epochs = 2 } };
            Assert.That(() => new Experiment(longer, output, null, _ => { }).Run(resume: true),
                Throws.InstanceOf<InvalidDataException>().With.Message.Contains("\"epochs\":1").And.Message.Contains("\"epochs\":2"));

            // Without --resume the run is trained afresh and takes the directory.
            new Experiment(hotter, output, null, _ => { }).Run(resume: false);
            Assert.That(File.ReadAllText(Path.Combine(output, "checkpoints", "kd", "mlp", "seed1", "run.json")), Does.Contain("\"temperature\": 8"));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>The student alone and KD (with <paramref name="grid"/>, tuned when it has points) on the MLP, one
    /// epoch everywhere, seed 1.</summary>
    private static Recipe KdRecipe(IReadOnlyList<GridPoint> grid) => new()
    {
        Name = "kd",
        Data = new DataSection { ValidationPerClass = grid.Count > 0 ? 30 : 0 },
        Teacher = new TeacherSection { Model = "small-cnn", Training = new ScheduleSection { Epochs = 1 } },
        Students = ["mlp"],
        Methods = [MethodSection.BuiltIn(MethodRegistry.Default.Method("none")),
            new MethodSection("kd", LossSpec.Parse("kd:0.9,ce:0.1")) { Grid = grid }],
        Training = new ScheduleSection { Epochs = 1 },
        Tuning = grid.Count > 0 ? new TuningSection { Epochs = 1 } : null,
        Seeds = [1],
    };

    [Test]
    public void APilotsRowsReadTheValidationSplit()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-pilot-").FullName;
        try
        {
            Recipe recipe = KdRecipe([]) with { Data = new DataSection { ValidationPerClass = 30, RowsOnValidation = true } };
            ExperimentResults results = new Experiment(recipe, output, null, _ => { }).Run(resume: false);
            // 300 validation images: every accuracy is a whole number of them; the embedded test set has another count.
            (_, ImageDataset test) = FashionMnist.LoadEmbedded();
            Assert.That(test.Count, Is.Not.EqualTo(300));
            Assert.Multiple(() =>
            {
                Assert.That(results.Data, Does.Contain("the rows read the validation split"));
                foreach (MethodRun run in results.Runs)
                {
                    double correct = run.Run.FinalAccuracy * 300;
                    Assert.That(correct, Is.EqualTo(Math.Round(correct)).Within(1e-6), $"{run.Method}: {run.Run.FinalAccuracy}");
                }
                Assert.That(results.Runs, Has.Count.EqualTo(2));
                Assert.That(results.Summary.Select(r => r.GapRecovered), Is.All.Null, "the teacher's accuracy is the test set's");
                Assert.That(File.ReadAllText(Path.Combine(output, "results.md")), Does.Contain("| validation accuracy (mean ± std) |"));
            });
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    [Test]
    public void ARunStoppedLaterKeepsTheRowsItFinished()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-rows-").FullName;
        try
        {
            var recipe = new Recipe
            {
                Name = "rows",
                Data = new DataSection { ValidationPerClass = 30 },
                Teacher = new TeacherSection { Model = "small-cnn", Training = new ScheduleSection { Epochs = 1 } },
                Students = ["mlp"],
                Methods = [MethodSection.BuiltIn(MethodRegistry.Default.Method("none")), MethodSection.BuiltIn(MethodRegistry.Default.Method("kd"))],
                Training = new ScheduleSection { Epochs = 2 },
                Seeds = [1],
            };
            string markdown = Path.Combine(output, "results.md");
            using var stop = new CancellationTokenSource();
            // Stops the run at the first step of kd, the second row: the results then exist only if each row writes them.
            var progress = new SynchronousProgress<GpuDistill.Training.TrainingProgress>(p =>
            {
                if (p.Run.StartsWith("kd/", StringComparison.Ordinal)) stop.Cancel();
            });
            var experiment = new Experiment(recipe, output, progress, _ => { });
            Assert.Catch<OperationCanceledException>(() => experiment.Run(resume: false, stop.Token));
            Assert.That(File.Exists(markdown), "results.md after the first row");
            string[] rows = File.ReadAllLines(markdown);
            Assert.That(rows, Has.Some.StartsWith("| none | mlp |"));
            Assert.That(rows, Has.None.StartsWith("| kd | mlp |"));
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }

    /// <summary>Collects the trainers' remarks as "run: remark".</summary>
    private static SynchronousProgress<GpuDistill.Training.TrainingProgress> Remarks(List<string> log) => new(p =>
    {
        if (p.Note is not null) log.Add($"{p.Run}: {p.Note}");
    });

    private static IEnumerable<string> Hashes(ImageDataset data) =>
        Enumerable.Range(0, data.Count).Select(i => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data.Image(i))));
}
