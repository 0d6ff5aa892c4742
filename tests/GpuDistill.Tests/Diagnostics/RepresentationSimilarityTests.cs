using GpuDistill.Compute;
using GpuDistill.Diagnostics;
using GpuDistill.Kernels.Diagnostics;
using GpuDistill.Tests.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>
/// Linear CKA through the public API on every device kind: the fused kernels on ILGPU accelerators and the libtorch
/// composite on the host simd device, both against the float64 reference, with the invariances CKA must have.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class RepresentationSimilarityTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double Bound = 2e-5;

    [TestCase(new long[] { 2, 3 }, new long[] { 2, 5 })]
    [TestCase(new long[] { 41, 1271 }, new long[] { 41, 3, 2, 2 })]
    [TestCase(new long[] { 5, 100003 }, new long[] { 5, 4 })]
    [TestCase(new long[] { 150, 4, 3, 3 }, new long[] { 150, 10 })]
    public void MatchesReference(long[] shapeX, long[] shapeY)
    {
        Random random = RandomData.NewRandom();
        int n = (int)shapeX[0];
        int widthX = (int)(shapeX.Aggregate(1L, (a, b) => a * b) / n), widthY = (int)(shapeY.Aggregate(1L, (a, b) => a * b) / n);
        float[] x = CkaTestData.Features(random, n, widthX, 1, 0.5f), y = CkaTestData.Features(random, n, widthY);
        using var scope = NewDisposeScope();
        double cka = RepresentationSimilarity.LinearCka(tensor(x, shapeX), tensor(y, shapeY), Device);
        double expected = LinearCkaReference.Cka(ReferenceMath.ToDouble(x), ReferenceMath.ToDouble(y), n, widthX, widthY);
        Assert.That(cka, Is.EqualTo(expected).Within(Bound));
    }

    [Test]
    public void HsicTermsMatchReference()
    {
        Random random = RandomData.NewRandom();
        const int n = 23, widthX = 6, widthY = 4;
        // Largest |value| is below 1: the features are scaled up by a power of two, which HSIC sees (CKA does not).
        float[] x = CkaTestData.Features(random, n, widthX, 0.9), y = CkaTestData.Features(random, n, widthY, 0.9);
        using var scope = NewDisposeScope();
        HsicTerms terms = RepresentationSimilarity.Hsic(tensor(x, [n, widthX]), tensor(y, [n, widthY]), Device);
        double[] dx = ReferenceMath.ToDouble(x), dy = ReferenceMath.ToDouble(y);
        double sx = Math.ScaleB(1, -Math.ILogB(x.Max(Math.Abs))), sy = Math.ScaleB(1, -Math.ILogB(y.Max(Math.Abs)));
        (double cross, double selfX, double selfY) = LinearCkaReference.UnbiasedTerms(
            dx.Select(v => v * sx).ToArray(), dy.Select(v => v * sy).ToArray(), n, widthX, widthY);
        Assert.Multiple(() =>
        {
            Assert.That(terms.UnbiasedSelfX, Is.EqualTo(selfX).Within(Bound * selfX));
            Assert.That(terms.UnbiasedSelfY, Is.EqualTo(selfY).Within(Bound * selfY));
            Assert.That(terms.UnbiasedCross, Is.EqualTo(cross).Within(Bound * Math.Sqrt(selfX * selfY)));
        });
    }

    [Test]
    public void CkaIsInvariantToScalingRotationAndOffset()
    {
        Random random = RandomData.NewRandom();
        const int n = 60, widthX = 9, widthY = 5;
        float[] x = CkaTestData.Features(random, n, widthX), y = CkaTestData.Features(random, n, widthY);
        double[] rotation = CkaTestData.Orthogonal(random, widthX);
        float[] rotated = [.. CkaTestData.Rotate(ReferenceMath.ToDouble(x), rotation, n, widthX).Select(v => (float)v)];
        using var scope = NewDisposeScope();
        Tensor tx = tensor(x, [n, widthX]), ty = tensor(y, [n, widthY]);
        double cka = RepresentationSimilarity.LinearCka(tx, ty, Device);
        using Scalar tiny = 1e-30.ToScalar(), huge = 3.7e25.ToScalar(), offset = 40.0.ToScalar();
        Assert.Multiple(() =>
        {
            Assert.That(RepresentationSimilarity.LinearCka(tx.mul(tiny), ty, Device), Is.EqualTo(cka).Within(Bound), "scaled by 1e-30");
            Assert.That(RepresentationSimilarity.LinearCka(tx, ty.mul(huge), Device), Is.EqualTo(cka).Within(Bound), "scaled by 3.7e25");
            Assert.That(RepresentationSimilarity.LinearCka(tensor(rotated, [n, widthX]), ty, Device), Is.EqualTo(cka).Within(Bound), "orthogonal transform");
            Assert.That(RepresentationSimilarity.LinearCka(tx.add(offset), ty, Device), Is.EqualTo(cka).Within(1e-4), "offset 40");
            Assert.That(RepresentationSimilarity.LinearCka(tx, tx, Device), Is.EqualTo(1).Within(1e-6), "CKA(X, X)");
        });
    }

    [Test]
    public void MatrixMatchesPairs()
    {
        Random random = RandomData.NewRandom();
        const int n = 30;
        using var scope = NewDisposeScope();
        Tensor[] rows = [tensor(CkaTestData.Features(random, n, 8), [n, 2, 2, 2]), tensor(CkaTestData.Features(random, n, 3), [n, 3])];
        Tensor[] columns = [tensor(CkaTestData.Features(random, n, 5), [n, 5]), rows[1], tensor(CkaTestData.Features(random, n, 7), [n, 7])];
        double[,] matrix = RepresentationSimilarity.LinearCkaMatrix(rows, columns, Device);
        Assert.That(matrix.GetLength(0), Is.EqualTo(2));
        Assert.That(matrix.GetLength(1), Is.EqualTo(3));
        for (int r = 0; r < 2; r++)
        {
            for (int c = 0; c < 3; c++)
                Assert.That(matrix[r, c], Is.EqualTo(RepresentationSimilarity.LinearCka(rows[r], columns[c], Device)).Within(1e-6), $"({r}, {c})");
        }
        Assert.That(matrix[1, 1], Is.EqualTo(1).Within(1e-6));
    }

    [Test]
    public void ConstantLayerIsUndefined()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor varying = tensor(CkaTestData.Features(random, 10, 4), [10, 4]);
        Tensor constant = full(10, 6, 2.5f);
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(constant, varying, Device), "x", "same for every example");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(varying, zeros(10, 3), Device), "y", "same for every example");
        double[,] matrix = RepresentationSimilarity.LinearCkaMatrix([constant, varying], [varying], Device);
        Assert.That(matrix[0, 0], Is.NaN);
        Assert.That(matrix[1, 0], Is.EqualTo(1).Within(1e-6));
        Assert.That(RepresentationSimilarity.Hsic(constant, varying, Device).Cka, Is.NaN);
    }

    [Test]
    public void BadInputIsRejected()
    {
        using var scope = NewDisposeScope();
        Tensor good = rand(6, 4);
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(rand(1, 4), rand(1, 3), Device), "x", "at least 2 examples");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(good, rand(5, 4), Device), "y", "batch size");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(good, full(6, 2, float.NaN), Device), "y", "finite");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCka(good.to_type(ScalarType.Float64), good, Device), "x", "float32");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCkaMatrix([good], [good, rand(5, 2)], Device), "columnLayers[1]", "same 6");
        ArgumentAssert.Rejects(() => RepresentationSimilarity.LinearCkaMatrix([], [good], Device), "rowLayers", "one layer");
    }
}
