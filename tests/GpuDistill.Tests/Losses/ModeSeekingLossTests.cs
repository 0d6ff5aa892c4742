using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>MSGAN's mode-seeking term against a float64 reference: value, gradient under an upstream gradient that is
/// not 1, and bad input.</summary>
public sealed class ModeSeekingLossTests
{
    private const double Epsilon = 1e-5;

    /// <summary>1 / (mean|a - b| / mean|za - zb| + 1e-5) in float64.</summary>
    private static double Reference(double[] a, double[] b, double codes) =>
        1 / ((a.Zip(b, (x, y) => Math.Abs(x - y)).Average() / codes) + Epsilon);

    private static double CodeDistance(float[] za, float[] zb) => za.Zip(zb, (x, y) => Math.Abs((double)x - y)).Average();

    [TestCase(1, 1, 1, 1, 1)]
    [TestCase(2, 1, 3, 5, 8)]
    [TestCase(64, 1, 28, 28, 100)]
    [TestCase(3, 2, 7, 9, 1)]
    public void ValueAndGradientMatchTheFloat64Reference(int batch, int channels, int height, int width, int latent)
    {
        Random random = RandomData.NewRandom();
        int count = batch * channels * height * width;
        float[] a = RandomData.Normal(random, count, 1), b = RandomData.Normal(random, count, 1);
        float[] za = RandomData.Normal(random, batch * latent, 1), zb = RandomData.Normal(random, batch * latent, 1);
        const double upstream = 2.5;
        using var scope = NewDisposeScope();
        Tensor first = tensor(a, [batch, channels, height, width]).requires_grad_(true);
        Tensor second = tensor(b, [batch, channels, height, width]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ModeSeeking(first, second, tensor(za, [batch, latent]), tensor(zb, [batch, latent]));
        (loss * upstream).backward();

        double codes = CodeDistance(za, zb);
        double[] x = ReferenceMath.ToDouble(a), y = ReferenceMath.ToDouble(b);
        double expected = Reference(x, y, codes);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-5 * expected));
        // d/da_k = -(r + eps)^-2 * sign(a_k - b_k) / (N * codes), and the opposite for b_k.
        double ratio = (1 / expected) - Epsilon;
        float[] gradFirst = TensorData.ToArray(first.grad!), gradSecond = TensorData.ToArray(second.grad!);
        for (int k = 0; k < count; k++)
        {
            double g = -upstream * Math.Sign(x[k] - y[k]) / (count * codes) / ((ratio + Epsilon) * (ratio + Epsilon));
            Assert.That(gradFirst[k], Is.EqualTo(g).Within(1e-5 * Math.Abs(g) + 1e-12), $"first[{k}]");
            Assert.That(gradSecond[k], Is.EqualTo(-g).Within(1e-5 * Math.Abs(g) + 1e-12), $"second[{k}]");
        }
        // The finite difference of the reference agrees with that formula at one element away from a kink.
        double numeric = FiniteDifferences.Derivative(v => Reference(v, y, codes), x, 0);
        Assert.That(gradFirst[0], Is.EqualTo(upstream * numeric).Within(1e-4 * Math.Abs(upstream * numeric)));
    }

    [Test]
    public void MoreDifferentImagesGiveASmallerLoss()
    {
        using var scope = NewDisposeScope();
        Tensor za = ones(4, 3), zb = zeros(4, 3);
        float near = GpuDistill.Losses.ModeSeeking(full(4, 1, 2, 2, 0.1f), zeros(4, 1, 2, 2), za, zb).item<float>();
        float far = GpuDistill.Losses.ModeSeeking(full(4, 1, 2, 2, 0.5f), zeros(4, 1, 2, 2), za, zb).item<float>();
        float same = GpuDistill.Losses.ModeSeeking(zeros(4, 1, 2, 2), zeros(4, 1, 2, 2), za, zb).item<float>();
        Assert.That(far, Is.LessThan(near));
        Assert.That(same, Is.EqualTo(1e5).Within(1), "identical images: 1 / eps, finite");
    }

    [Test]
    public void BadInputIsRefusedByName()
    {
        using var scope = NewDisposeScope();
        Tensor images = zeros(4, 1, 5, 5), codes = randn(4, 8), other = randn(4, 8);
        Assert.Multiple(() =>
        {
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(images, zeros(4, 1, 5, 6), codes, other), "second", "the shape of first");
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(images, images, randn(3, 8), other), "latentFirst", "a code per image");
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(images, images, codes, randn(4, 7)), "latentSecond", "the shape of latentFirst");
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(images, images, codes, codes), "latentSecond", "two different codes");
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(full(4, 1, 5, 5, float.NaN), images, codes, other), "first", "NaN");
            ArgumentAssert.Rejects(() => GpuDistill.Losses.ModeSeeking(zeros(4, 1, 5, 5, dtype: ScalarType.Float64), images, codes, other), "first", "float32");
        });
    }
}
