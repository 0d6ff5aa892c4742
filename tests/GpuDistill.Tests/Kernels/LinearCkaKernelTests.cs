using GpuDistill.Compute;
using GpuDistill.Kernels.Diagnostics;
using GpuDistill.Tests.Generic;
using ILGPU.Runtime;

namespace GpuDistill.Tests.Kernels;

/// <summary>The linear-CKA kernels, straight through the launcher, against the float64 reference.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class LinearCkaKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>
    /// Float32 Gram entries and run sums against float64, relative to each term's natural size (the CKA denominator
    /// for the cross terms): measured below 3e-7 on these shapes on the CPU accelerator.
    /// </summary>
    private const double Bound = 2e-5;

    // (n, p1, p2): two examples, single columns, 41 x 1271, one very wide feature, exactly one run of 64 Gram
    // columns, several runs with a short last one.
    [TestCase(2, 3, 5)]
    [TestCase(3, 7, 1)]
    [TestCase(4, 1, 1)]
    [TestCase(41, 1271, 33)]
    [TestCase(5, 100003, 3)]
    [TestCase(64, 5, 5)]
    [TestCase(130, 17, 9)]
    [TestCase(200, 24, 40)]
    public void MatchesReference(int n, int widthX, int widthY)
    {
        Random random = RandomData.NewRandom();
        foreach ((double scale, float offset) in new[] { (1.0, 0f), (1e3, 0f), (1e-3, 0f), (1.0, 10f) })
        {
            float[] x = CkaTestData.Features(random, n, widthX, scale, offset);
            float[] y = CkaTestData.Features(random, n, widthY, 1.0 / scale);
            Check(x, y, n, widthX, widthY, $"|x| <= {scale} + {offset}");
        }
    }

    [Test]
    public void RelatedFeaturesGiveHighCka()
    {
        // Y = X W + small noise: CKA is far from 0, so the cross term is held to the bound on a large value too.
        Random random = RandomData.NewRandom();
        const int n = 90, widthX = 12, widthY = 7;
        float[] x = CkaTestData.Features(random, n, widthX);
        float[] w = CkaTestData.Features(random, widthX, widthY);
        float[] y = new float[n * widthY];
        for (int i = 0; i < n; i++)
        {
            for (int c = 0; c < widthY; c++)
            {
                double sum = 0.01 * (random.NextDouble() - 0.5);
                for (int k = 0; k < widthX; k++) sum += x[i * widthX + k] * w[k * widthY + c];
                y[i * widthY + c] = (float)sum;
            }
        }
        HsicTerms terms = Check(x, y, n, widthX, widthY, "related");
        Assert.That(terms.Cka, Is.GreaterThan(0.3));
    }

    [Test]
    public void SameFeaturesGiveOne()
    {
        Random random = RandomData.NewRandom();
        float[] x = CkaTestData.Features(random, 33, 20, 5, 2);
        HsicTerms terms = Launch(x, x, 33, 20, 20);
        Assert.That(terms.Cka, Is.EqualTo(1).Within(1e-6));
    }

    [Test]
    public void EqualRowsGiveFiniteTerms()
    {
        // Every example the same: the centred features are zero up to the rounding of the mean.
        float[] row = [3.25f, -1.5f, 7f];
        float[] x = [.. Enumerable.Repeat(row, 6).SelectMany(r => r)];
        HsicTerms terms = Launch(x, x, 6, 3, 3);
        Assert.That(new[] { terms.Cross, terms.SelfX, terms.UnbiasedCross, terms.UnbiasedSelfX }, Is.All.Matches<double>(double.IsFinite));
        Assert.That(terms.SelfX, Is.LessThan(1e-20));
    }

    [Test]
    public void OneExampleIsRejected()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Launch([1f, 2f], [3f], 1, 2, 1));
        Assert.That(ex!.ParamName, Is.EqualTo("rows"));
        Assert.That(ex.Message, Does.Contain("at least 2 examples"));
    }

    [Test]
    public void WrongViewLengthIsRejected() =>
        ArgumentAssert.Rejects(() => Launch(new float[7], new float[6], 3, 2, 2), "x", "expected 6");

    private HsicTerms Check(float[] x, float[] y, int n, int widthX, int widthY, string what)
    {
        HsicTerms actual = Launch(x, y, n, widthX, widthY);
        double[] dx = ReferenceMath.ToDouble(x), dy = ReferenceMath.ToDouble(y);
        (double cross, double selfX, double selfY) = LinearCkaReference.BiasedTerms(dx, dy, n, widthX, widthY);
        double denominator = Math.Sqrt(selfX * selfY);
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(actual.Cross - cross), Is.LessThanOrEqualTo(Bound * denominator), $"{what}: cross");
            Assert.That(Tolerance.RelativeError(actual.SelfX, selfX, 1e-300), Is.LessThanOrEqualTo(Bound), $"{what}: self X");
            Assert.That(Tolerance.RelativeError(actual.SelfY, selfY, 1e-300), Is.LessThanOrEqualTo(Bound), $"{what}: self Y");
            Assert.That(actual.Cka, Is.EqualTo(cross / denominator).Within(Bound), $"{what}: CKA");
            if (n <= 3)
            {
                Assert.That(actual.UnbiasedCross, Is.NaN, $"{what}: HSIC_1 needs n > 3");
                return;
            }
            // HSIC_1 is HSIC itself, the biased terms (n-1)^2 HSIC: the same size once that factor is divided out.
            (double uCross, double uSelfX, double uSelfY) = LinearCkaReference.UnbiasedTerms(dx, dy, n, widthX, widthY);
            double scale = denominator / ((n - 1.0) * (n - 1.0));
            Assert.That(Math.Abs(actual.UnbiasedCross - uCross), Is.LessThanOrEqualTo(Bound * scale), $"{what}: HSIC_1(K, L)");
            Assert.That(Math.Abs(actual.UnbiasedSelfX - uSelfX), Is.LessThanOrEqualTo(Bound * selfX / ((n - 1.0) * (n - 1.0))), $"{what}: HSIC_1(K, K)");
            Assert.That(Math.Abs(actual.UnbiasedSelfY - uSelfY), Is.LessThanOrEqualTo(Bound * selfY / ((n - 1.0) * (n - 1.0))), $"{what}: HSIC_1(L, L)");
        });
        return actual;
    }

    private HsicTerms Launch(float[] x, float[] y, int n, int widthX, int widthY)
    {
        using var dx = Device.Accelerator.Allocate1D(x);
        using var dy = Device.Accelerator.Allocate1D(y);
        return Device.Kernels<LinearCkaLauncher>().Run(dx.View, dy.View, n, widthX, widthY);
    }
}
