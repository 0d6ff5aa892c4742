using GpuDistill.Diagnostics;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>Expected calibration error (15 bins) on crafted examples with known answers and against a float64 loop.</summary>
public sealed class CalibrationTests
{
    [Test]
    public void CraftedExampleHasKnownEce()
    {
        // Bins of width 1/15: 0.95 falls in (14/15, 1], 0.5 in (7/15, 8/15], 0.3 in (4/15, 5/15].
        //   (14/15, 1]: 4 images, 3 correct, confidence sum 3.8 -> 4/7 |3/4 - 0.95| = 0.8 / 7
        //   (7/15, 8/15]: 2 images, 1 correct, sum 1.0 -> 0
        //   (4/15, 5/15]: 1 image, 0 correct, sum 0.3 -> 0.3 / 7
        double[] confidence = [0.95, 0.95, 0.95, 0.95, 0.5, 0.5, 0.3];
        bool[] correct = [true, true, true, false, true, false, false];
        CalibrationResult result = Calibration.FromConfidences(confidence, correct);
        Assert.Multiple(() =>
        {
            Assert.That(result.Ece, Is.EqualTo(1.1 / 7).Within(1e-15));
            Assert.That(result.Accuracy, Is.EqualTo(4.0 / 7));
            Assert.That(result.MeanConfidence, Is.EqualTo(5.1 / 7).Within(1e-15));
            Assert.That(result.Bins, Has.Count.EqualTo(15));
            Assert.That(result.Bins.Select(b => b.Count), Is.EqualTo(new[] { 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4 }));
            Assert.That(result.Bins[14].Accuracy, Is.EqualTo(0.75));
            Assert.That(result.Bins[14].MeanConfidence, Is.EqualTo(0.95).Within(1e-15));
            Assert.That(result.Bins[0].Accuracy, Is.NaN, "an empty bin");
        });
    }

    [Test]
    public void EdgesAreLeftOpenRightClosed()
    {
        // c = 2/15 exactly belongs to (1/15, 2/15]; the next double above it to (2/15, 3/15]; 1 to the last bin.
        double edge = 2.0 / 15;
        CalibrationResult result = Calibration.FromConfidences([edge, Math.BitIncrement(edge), 1.0], [true, true, true]);
        Assert.That(result.Bins[1].Count, Is.EqualTo(1));
        Assert.That(result.Bins[2].Count, Is.EqualTo(1));
        Assert.That(result.Bins[14].Count, Is.EqualTo(1));
        // 10 bins: 0.3 = 3/10 is an edge too (its double is the one 3.0 / 10 gives).
        Assert.That(Calibration.FromConfidences([3.0 / 10], [false], bins: 10).Bins[2].Count, Is.EqualTo(1));
    }

    [Test]
    public void PerfectlyCalibratedOneBinHasZeroEce()
    {
        CalibrationResult result = Calibration.FromConfidences([0.5, 0.5, 0.5, 0.5], [true, false, true, false], bins: 1);
        Assert.That(result.Ece, Is.EqualTo(0));
    }

    [TestCase(1)]
    [TestCase(57)]
    [TestCase(500)]
    public void FromLogitsMatchesFloat64Loop(int rows)
    {
        Random random = RandomData.NewRandom();
        const int classes = 10;
        float[] logits = RandomData.Uniform(random, rows * classes, 6);
        int[] labels = RandomData.Labels(random, rows, classes, ignoreIndex: null);
        using var scope = NewDisposeScope();
        CalibrationResult result = Calibration.FromLogits(tensor(logits, [rows, classes]), TensorData.Labels(labels));

        // The definition, plainly: bins by their edges m/15, sums over the whole set, one division at the end.
        var counts = new double[15];
        var hits = new double[15];
        var sums = new double[15];
        for (int i = 0; i < rows; i++)
        {
            double[] p = ReferenceMath.LogSoftmax(ReferenceMath.ToDouble(logits[(i * classes)..((i + 1) * classes)]), 1).Select(Math.Exp).ToArray();
            double c = p.Max();
            int m = Enumerable.Range(0, 15).First(b => c > b / 15.0 && c <= (b + 1) / 15.0);
            counts[m]++;
            sums[m] += c;
            if (Array.IndexOf(p, c) == labels[i]) hits[m]++;
        }
        double ece = Enumerable.Range(0, 15).Where(m => counts[m] > 0).Sum(m => counts[m] / rows * Math.Abs(hits[m] / counts[m] - sums[m] / counts[m]));
        Assert.That(result.Ece, Is.EqualTo(ece).Within(1e-12));
        Assert.That(result.Bins.Select(b => (double)b.Count), Is.EqualTo(counts));
        Assert.That(result.Accuracy, Is.EqualTo(hits.Sum() / rows).Within(1e-15));
    }

    [Test]
    public void BadInputIsRejected()
    {
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([0.5, 0.0], [true, true]), "confidences", "(0, 1]");
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([0.5, 1.5], [true, true]), "confidences", "(0, 1]");
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([double.NaN], [true]), "confidences", "(0, 1]");
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([0.5], [true, false]), "correct", "has 2 values");
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([], []), "confidences", "one value");
        ArgumentAssert.Rejects(() => Calibration.FromConfidences([0.5], [true], bins: 0), "bins", "at least 1");
        using var scope = NewDisposeScope();
        ArgumentAssert.Rejects(() => Calibration.FromLogits(rand(3, 4), tensor(new long[] { 0, 4, 1 })), "labels", "labels[1] = 4 is outside [0, 4)");
        ArgumentAssert.Rejects(() => Calibration.FromLogits(full(3, 4, float.PositiveInfinity), tensor(new long[] { 0, 1, 1 })), "logits", "finite");
    }
}
