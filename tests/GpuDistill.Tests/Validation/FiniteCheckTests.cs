using GpuDistill.Compute.HostSimd;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Validation;

/// <summary>
/// The finite checks every loss runs: <see cref="HostFinite"/>'s vectorised read finds the first NaN or infinity at
/// any position (inside a vector, in the scalar tail, in a later block), and the tensor checks that use it name the
/// row or example, on the in-place path (contiguous float32) and on libtorch's (a strided view, float64).
/// </summary>
public sealed class FiniteCheckTests
{
    [TestCase(1, 0)]
    [TestCase(7, 6)]
    [TestCase(8, 3)]
    [TestCase(13, 12)]
    [TestCase(1024, 1023)]
    [TestCase(1031, 1028)]
    [TestCase(5000, 2049)]
    public void TheFirstNonFiniteValueIsFoundWherever(int length, int position)
    {
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -float.NaN })
        {
            float[] values = RandomData.Uniform(RandomData.NewRandom(), length, 1e38);
            Assert.That(HostFinite.FirstNonFinite(values), Is.EqualTo(-1), "all finite, float.MaxValue range");
            values[position] = bad;
            if (position + 1 < length) values[length - 1] = float.NaN;
            Assert.That(HostFinite.FirstNonFinite(values), Is.EqualTo(position), $"{bad} at {position} of {length}");
        }
    }

    [Test]
    public void LargestAndSubnormalValuesAreFinite()
    {
        float[] values = [float.MaxValue, -float.MaxValue, float.Epsilon, -float.Epsilon, 0f, -0f, 1e-40f, 3e38f, 1f];
        Assert.That(HostFinite.FirstNonFinite(values), Is.EqualTo(-1));
        Assert.That(HostFinite.FirstNonFinite([]), Is.EqualTo(-1));
    }

    [TestCase(false, false)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public void TheChecksNameTheRowOrExampleOnEitherPath(bool strided, bool doublePrecision)
    {
        using var scope = NewDisposeScope();
        Tensor x = randn(6, 4, 10);
        if (doublePrecision) x = x.to_type(ScalarType.Float64);
        x[3, 2, 7] = tensor(float.NaN, x.dtype);
        if (strided) x = x.transpose(1, 2);   // [6, 10, 4], not contiguous; the NaN is at [3, 7, 2]
        x.requires_grad_(true);
        Assert.That(() => GpuDistill.Validation.TensorChecks.RequireFiniteFeatures(x, "features"),
            Throws.ArgumentException.With.Message.Contains("first in example 3").And.Property("ParamName").EqualTo("features"));
        int row = strided ? 3 * 10 + 7 : 3 * 4 + 2;
        Assert.That(() => GpuDistill.Validation.TensorChecks.RequireFinite(x, "logits"),
            Throws.ArgumentException.With.Message.Contains($"first at row {row}").And.Property("ParamName").EqualTo("logits"));
        using (no_grad()) x[3].fill_(1.0);
        Assert.DoesNotThrow(() => GpuDistill.Validation.TensorChecks.RequireFinite(x, "logits"));
        Assert.DoesNotThrow(() => GpuDistill.Validation.TensorChecks.RequireFiniteFeatures(x, "features"));
    }
}
