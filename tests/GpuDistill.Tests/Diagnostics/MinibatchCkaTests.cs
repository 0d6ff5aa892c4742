using GpuDistill.Compute;
using GpuDistill.Diagnostics;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>Minibatch CKA: unbiased HSIC summed over batches, against the float64 reference, on every device kind.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class MinibatchCkaTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test]
    public void MatchesReferenceOverBatchesOfDifferentSizeAndScale()
    {
        Random random = RandomData.NewRandom();
        const int widthX = 7, widthY = 5;
        var cka = new MinibatchCka();
        var batches = new List<(double[] X, double[] Y, int Rows)>();
        using var scope = NewDisposeScope();
        // The second batch is 300x larger: one scale must hold for every batch's sums, not each its own.
        foreach ((int rows, double scale) in new[] { (40, 1.0), (17, 300.0), (4, 1.0) })
        {
            float[] x = CkaTestData.Features(random, rows, widthX, scale), y = CkaTestData.Features(random, rows, widthY);
            for (int i = 0; i < rows; i++) y[i * widthY] += 0.5f * x[i * widthX] / (float)scale;
            cka.Add(tensor(x, [rows, widthX]), tensor(y, [rows, widthY]), Device);
            batches.Add((ReferenceMath.ToDouble(x), ReferenceMath.ToDouble(y), rows));
        }
        Assert.That(cka.Batches, Is.EqualTo(3));
        Assert.That(cka.Examples, Is.EqualTo(61));
        Assert.That(cka.Value, Is.EqualTo(LinearCkaReference.MinibatchCka(batches, widthX, widthY)).Within(2e-5));
    }

    [Test]
    public void NoBatchGivesNaNAndSmallBatchIsRejected()
    {
        var cka = new MinibatchCka();
        Assert.That(cka.Value, Is.NaN);
        using var scope = NewDisposeScope();
        ArgumentAssert.Rejects(() => cka.Add(rand(3, 4), rand(3, 2), Device), "x", "at least 4 examples");
    }
}
