using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The CKA reference against hand-computed cases, the identities of loss-spec-2 12.1 and the invariances CKA must
/// have, so the kernel tests rest on it.
/// </summary>
public sealed class LinearCkaReferenceTests
{
    [Test]
    public void OneDimensionalCkaIsSquaredCorrelation()
    {
        // x = (1, 2, 3), y = (1, 3, 2): centred (-1, 0, 1) and (-1, 1, 0); cov 1, variances 2 and 2, so rho = 1/2.
        double cka = LinearCkaReference.Cka([1, 2, 3], [1, 3, 2], 3, 1, 1);
        Assert.That(cka, Is.EqualTo(0.25).Within(1e-15));
    }

    [Test]
    public void HandComputedHsicOfTwoExamples()
    {
        // n = 2: centred rows are +-(x1 - x2)/2, so K_c = a [[1, -1], [-1, 1]] with a = |x1 - x2|^2 / 4, L_c likewise
        // with b = |y1 - y2|^2 / 4: tr(K_c L_c) = 4ab, tr(K_c K_c) = 4a^2, and CKA = 4ab / sqrt(4a^2 4b^2) = 1.
        double[] x = [1, 2, 4, 0], y = [3, 5];
        (double cross, double selfX, double selfY) = LinearCkaReference.BiasedTerms(x, y, 2, 2, 1);
        double a = ((1 - 4) * (1 - 4) + (2 - 0) * (2 - 0)) / 4.0, b = (3 - 5) * (3 - 5) / 4.0;
        Assert.Multiple(() =>
        {
            Assert.That(cross, Is.EqualTo(4 * a * b).Within(1e-12));
            Assert.That(selfX, Is.EqualTo(4 * a * a).Within(1e-12));
            Assert.That(selfY, Is.EqualTo(4 * b * b).Within(1e-12));
            Assert.That(LinearCkaReference.Cka(x, y, 2, 2, 1), Is.EqualTo(1).Within(1e-15));
        });
    }

    [TestCase(5, 3, 4)]
    [TestCase(17, 9, 2)]
    [TestCase(30, 1, 40)]
    public void KernelAndFeatureSpaceFormsAgree(int n, int widthX, int widthY)
    {
        Random random = RandomData.NewRandom();
        double[] x = ReferenceMath.ToDouble(CkaTestData.Features(random, n, widthX, offset: 0.5f));
        double[] y = ReferenceMath.ToDouble(CkaTestData.Features(random, n, widthY));
        double kernelForm = LinearCkaReference.Cka(x, y, n, widthX, widthY);
        Assert.That(LinearCkaReference.FeatureSpaceCka(x, y, n, widthX, widthY), Is.EqualTo(kernelForm).Within(1e-13));
        Assert.That(kernelForm, Is.InRange(0.0, 1.0));
    }

    [TestCase(12, 6, 5)]
    [TestCase(25, 8, 3)]
    public void CkaIsInvariantToScalingRotationAndOffset(int n, int widthX, int widthY)
    {
        Random random = RandomData.NewRandom();
        double[] x = ReferenceMath.ToDouble(CkaTestData.Features(random, n, widthX));
        double[] y = ReferenceMath.ToDouble(CkaTestData.Features(random, n, widthY));
        double cka = LinearCkaReference.Cka(x, y, n, widthX, widthY);
        double[] scaled = x.Select(v => 37.5 * v).ToArray();
        double[] rotated = CkaTestData.Rotate(x, CkaTestData.Orthogonal(random, widthX), n, widthX);
        double[] shifted = x.Select((v, i) => v + (i % widthX) * 3.0).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(LinearCkaReference.Cka(scaled, y, n, widthX, widthY), Is.EqualTo(cka).Within(1e-13), "isotropic scaling");
            Assert.That(LinearCkaReference.Cka(rotated, y, n, widthX, widthY), Is.EqualTo(cka).Within(1e-12), "orthogonal transform");
            Assert.That(LinearCkaReference.Cka(shifted, y, n, widthX, widthY), Is.EqualTo(cka).Within(1e-12), "a constant per column");
            Assert.That(LinearCkaReference.Cka(x, x, n, widthX, widthX), Is.EqualTo(1).Within(1e-14), "CKA(X, X)");
        });
    }

    [Test]
    public void UnbiasedHsicIgnoresAConstantPerColumn()
    {
        Random random = RandomData.NewRandom();
        const int n = 9, width = 4;
        double[] x = ReferenceMath.ToDouble(CkaTestData.Features(random, n, width));
        double[] y = ReferenceMath.ToDouble(CkaTestData.Features(random, n, 3));
        double[] shifted = x.Select((v, i) => v + 2.0 + (i % width)).ToArray();
        (double cross, double selfX, _) = LinearCkaReference.UnbiasedTerms(x, y, n, width, 3);
        (double crossShifted, double selfXShifted, _) = LinearCkaReference.UnbiasedTerms(shifted, y, n, width, 3);
        // Exact in exact arithmetic; the shifted Gram entries are ~10x larger, so float64 cancels a digit more.
        Assert.That(crossShifted, Is.EqualTo(cross).Within(1e-10 * Math.Sqrt(selfX)));
        Assert.That(selfXShifted, Is.EqualTo(selfX).Within(1e-10 * selfX));
    }

    [Test]
    public void MinibatchCkaOfOneBatchIsTheUnbiasedRatio()
    {
        Random random = RandomData.NewRandom();
        double[] x = ReferenceMath.ToDouble(CkaTestData.Features(random, 8, 3));
        double[] y = ReferenceMath.ToDouble(CkaTestData.Features(random, 8, 5));
        (double cross, double selfX, double selfY) = LinearCkaReference.UnbiasedTerms(x, y, 8, 3, 5);
        Assert.That(LinearCkaReference.MinibatchCka([(x, y, 8)], 3, 5), Is.EqualTo(cross / Math.Sqrt(selfX * selfY)).Within(1e-15));
        Assert.That(LinearCkaReference.MinibatchCka([(x, x, 8)], 3, 3), Is.EqualTo(1).Within(1e-14));
    }
}
