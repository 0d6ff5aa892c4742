using GpuDistill.Experiments;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>The capacity-gap sweep's summary: gap recovered per method and student size, in results.md and a plot.</summary>
public sealed class CapacityGapTests
{
    private static TrainingRun Run(string model, long parameters, int seed, double accuracy) =>
        new($"{model}/seed{seed}", model, parameters, seed, "ce:1",
            [new EpochRecord(1, 0.5, new Dictionary<string, double>(), accuracy, 1, new StepTimeSplit(0, 0.2, 0.3, 0.5))]);

    /// <summary>A teacher at 90%; "small" (1,000 parameters) alone at 80%, "large" (4,000) alone at 86%, kd on both over
    /// two seeds, and "odd" trained with kd only (no "none" row: not part of the sweep).</summary>
    private static ExperimentResults Sweep(bool withLarge = true)
    {
        var runs = new List<MethodRun>
        {
            new("none", "small", Run("small", 1000, 1, 0.80)), new("none", "small", Run("small", 1000, 2, 0.80)),
            new("kd", "small", Run("small", 1000, 1, 0.84)), new("kd", "small", Run("small", 1000, 2, 0.86)),
            new("kd", "odd", Run("odd", 500, 1, 0.70)),
        };
        if (withLarge)
        {
            runs.AddRange([new("none", "large", Run("large", 4000, 1, 0.86)), new("kd", "large", Run("large", 4000, 1, 0.87))]);
        }
        TrainingRun teacher = Run("teacher", 10_000, 1, 0.90);
        return new ExperimentResults("sweep", "test data", "test machine", "cpu", teacher, runs, Experiment.Summarise(teacher, runs));
    }

    [Test]
    public void EachMethodsGapIsReadAgainstItsOwnStudentAloneBySize()
    {
        IReadOnlyList<CapacityGapPoint> points = CapacityGap.Points(Sweep());
        Assert.That(points.Select(p => (p.Method, p.Student)), Is.EqualTo(new[] { ("kd", "small"), ("kd", "large") }), "smallest first; 'odd' has no baseline");
        CapacityGapPoint small = points[0], large = points[1];
        Assert.Multiple(() =>
        {
            // small: (0.85 - 0.80) / (0.90 - 0.80) = 0.5; the kd seeds' std sqrt(2) * 0.01 over the same 0.10 gap.
            Assert.That(small.GapRecovered, Is.EqualTo(0.5).Within(1e-12));
            Assert.That(small.GapSpread, Is.EqualTo(Math.Sqrt(2) * 0.01 / 0.10).Within(1e-12));
            Assert.That(small.TeacherFraction, Is.EqualTo(0.1).Within(1e-12));
            Assert.That(small.Alone, Is.EqualTo(0.80).Within(1e-12));
            // large: (0.87 - 0.86) / (0.90 - 0.86) = 0.25, one seed: no spread.
            Assert.That(large.GapRecovered, Is.EqualTo(0.25).Within(1e-9));
            Assert.That(large.GapSpread, Is.EqualTo(0));
            Assert.That(large.Parameters, Is.EqualTo(4000));
        });
    }

    [Test]
    public void OneStudentIsNoSweepAndWritesNoSection()
    {
        ExperimentResults one = Sweep(withLarge: false);
        Assert.That(CapacityGap.Points(one), Is.Empty);
        Assert.That(ResultsWriter.Markdown(one), Does.Not.Contain("Gap recovered by student size"));
    }

    [Test]
    public void ResultsShowTheSweepAsATableAndAPlot()
    {
        ExperimentResults results = Sweep();
        string markdown = ResultsWriter.Markdown(results);
        Assert.That(markdown, Does.Contain("## Gap recovered by student size"));
        Assert.That(markdown, Does.Contain("| small | 1,000 | 10.0% | 80.00% | 85.00%, 50% ± 14 |"));
        Assert.That(markdown, Does.Contain("| large | 4,000 | 40.0% | 86.00% | 87.00%, 25% ± 0 |"));
        string directory = Directory.CreateTempSubdirectory("gpudistill-sweep-").FullName;
        try
        {
            ResultsPlots.Write(results, directory);
            byte[] png = File.ReadAllBytes(Path.Combine(directory, "capacity-gap.png"));
            Assert.That(png.Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
