using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The fake-quantization reference against the spec's checked values (rounding, mask edges, grids) and its STE
/// gradients against finite differences of the straight-through surrogates, so the kernel tests rest on it.
/// </summary>
public sealed class FakeQuantizeReferenceTests
{
    [Test]
    public void RoundsHalfToEvenAsPyTorch()
    {
        // loss-spec-2 8.1: fake_quantize_per_tensor_affine([0.5, 1.5, 2.5, -0.5, -1.5, 3.5]) = [0, 2, 2, 0, -2, 4].
        (double[] output, _) = FakeQuantizeReference.FakeQuantize([0.5, 1.5, 2.5, -0.5, -1.5, 3.5], [1], [0], -128, 127);
        Assert.That(output, Is.EqualTo(new[] { 0.0, 2, 2, 0, -2, 4 }));
    }

    [Test]
    public void MaskTestsTheRoundedValue()
    {
        // loss-spec-2 8.1, s = 1, zp = 0 on [-128, 127]: 127.4 and -128.4 pass, 127.6 and -128.6 are blocked.
        (_, bool[] passes) = FakeQuantizeReference.FakeQuantize([127.4, 127.6, -128.4, -128.6], [1], [0], -128, 127);
        Assert.That(passes, Is.EqualTo(new[] { true, false, true, false }));
    }

    [Test]
    public void GridsMatchTheSpec()
    {
        Assert.Multiple(() =>
        {
            Assert.That(FakeQuantizeReference.SymmetricGrid(8), Is.EqualTo((-127, 127)));
            Assert.That(FakeQuantizeReference.SymmetricGrid(2), Is.EqualTo((-1, 1)), "2 bits: ternary");
            Assert.That(FakeQuantizeReference.SignedGrid(4), Is.EqualTo((-8, 7)));
            Assert.That(FakeQuantizeReference.UnsignedGrid(8), Is.EqualTo((0, 255)));
        });
    }

    [Test]
    public void AffineZeroIsExactlyRepresentable()
    {
        Random random = RandomData.NewRandom();
        for (int trial = 0; trial < 100; trial++)
        {
            double lo = -random.NextDouble() * 5, hi = random.NextDouble() * 7;
            (double s, int zp) = FakeQuantizeReference.AffineParameters(lo, hi, 0, 255);
            (double[] output, _) = FakeQuantizeReference.FakeQuantize([0.0, lo, hi], [s], [zp], 0, 255);
            Assert.That(output[0], Is.EqualTo(0.0), $"range [{lo}, {hi}]");
            // The ends of the range are within one step of their images (the range is widened to hold 0).
            Assert.That(Math.Abs(output[1] - lo), Is.LessThanOrEqualTo(s), "low end");
            Assert.That(Math.Abs(output[2] - hi), Is.LessThanOrEqualTo(s), "high end");
        }
    }

    [TestCase(2)]
    [TestCase(4)]
    [TestCase(8)]
    public void MaskIsTheSurrogatesDerivative(int bits)
    {
        Random random = RandomData.NewRandom();
        (int qmin, int qmax) = FakeQuantizeReference.UnsignedGrid(bits);
        (double s, int zp) = FakeQuantizeReference.AffineParameters(-1, 3, qmin, qmax);
        // Values well past both ends of the range as well as inside it.
        double[] x = [.. Enumerable.Range(0, 200).Select(_ => (random.NextDouble() * 2 - 1) * 6)];
        (_, bool[] passes) = FakeQuantizeReference.FakeQuantize(x, [s], [zp], qmin, qmax);
        for (int i = 0; i < x.Length; i++)
        {
            double edgeLow = (qmin - 0.5 - zp) * s, edgeHigh = (qmax + 0.5 - zp) * s;
            if (Math.Min(Math.Abs(x[i] - edgeLow), Math.Abs(x[i] - edgeHigh)) < 1e-3) continue;
            double h = 1e-6;
            double numeric = (FakeQuantizeReference.Surrogate(x[i] + h, s, zp, qmin, qmax)
                - FakeQuantizeReference.Surrogate(x[i] - h, s, zp, qmin, qmax)) / (2 * h);
            Assert.That(passes[i] ? 1.0 : 0.0, Is.EqualTo(numeric).Within(1e-6), $"x = {x[i]}");
        }
    }

    [TestCase(2, false)]
    [TestCase(4, false)]
    [TestCase(4, true)]
    [TestCase(8, true)]
    public void LearnedGradientsAreTheSurrogatesDerivatives(int bits, bool negative)
    {
        Random random = RandomData.NewRandom();
        (int qn, int qp) = negative ? FakeQuantizeReference.SignedGrid(bits) : FakeQuantizeReference.UnsignedGrid(bits);
        double scale = 0.1 + random.NextDouble();
        double[] x = [.. Enumerable.Range(0, 200).Select(_ => (random.NextDouble() * 2 - (negative ? 1 : 0.2)) * scale * qp * 1.3)];
        (_, bool[] passes, double[] step) = FakeQuantizeReference.Learned(x, scale, qn, qp);

        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i] / scale;
            // Away from the clamp edges, where the surrogate has a kink.
            if (Math.Min(Math.Abs(v - qn), Math.Abs(v - qp)) < 1e-3) continue;
            double residual = FakeQuantizeReference.Round(Math.Clamp(v, qn, qp)) - Math.Clamp(v, qn, qp);
            const double h = 1e-7;
            double dx = (FakeQuantizeReference.LearnedSurrogate(x[i] + h, scale, residual, qn, qp)
                - FakeQuantizeReference.LearnedSurrogate(x[i] - h, scale, residual, qn, qp)) / (2 * h);
            double ds = (FakeQuantizeReference.LearnedSurrogate(x[i], scale + h, residual, qn, qp)
                - FakeQuantizeReference.LearnedSurrogate(x[i], scale - h, residual, qn, qp)) / (2 * h);
            Assert.That(passes[i] ? 1.0 : 0.0, Is.EqualTo(dx).Within(1e-6), $"d/dx at x = {x[i]}");
            Assert.That(step[i], Is.EqualTo(ds).Within(1e-6 * qp), $"d/ds at x = {x[i]}");
        }
    }
}
