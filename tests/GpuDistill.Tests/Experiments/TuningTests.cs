using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Methods;

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
            // The final kd rows ran at the picked temperature: their checkpoint directory is the method's own.
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", "kd", "mlp", "seed1")));
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", $"tune-kd-p{best + 1}", "mlp", "seed1")));
            Assert.That(Directory.Exists(Path.Combine(output, "checkpoints", "tune-none-p1", "mlp", "seed1")));
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
            var progress = new SynchronousProgress(p =>
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

    private sealed class SynchronousProgress(Action<GpuDistill.Training.TrainingProgress> report) : IProgress<GpuDistill.Training.TrainingProgress>
    {
        public void Report(GpuDistill.Training.TrainingProgress value) => report(value);
    }

    private static IEnumerable<string> Hashes(ImageDataset data) =>
        Enumerable.Range(0, data.Count).Select(i => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data.Image(i))));
}
