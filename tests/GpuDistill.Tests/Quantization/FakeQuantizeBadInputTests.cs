using GpuDistill.Compute;
using GpuDistill.Quantization;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Quantization;

/// <summary>Bad input to <see cref="Quantize"/> and <see cref="IntegerGrid"/>: exceptions that name the argument.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class FakeQuantizeBadInputTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [TestCase(1)]
    [TestCase(0)]
    [TestCase(17)]
    [TestCase(-4)]
    public void BitWidthOutsideTwoToSixteenIsRejected(int bits)
    {
        using Tensor weight = ones(4, 3);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => Quantize.FakeQuantizeWeights(weight, bits, Device));
        Assert.That(ex!.ParamName, Is.EqualTo("bits"));
        Assert.That(ex.Message, Does.Contain("2..16").And.Contain(bits.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Throws<ArgumentOutOfRangeException>(() => IntegerGrid.NonNegative(bits));
        Assert.Throws<ArgumentOutOfRangeException>(() => IntegerGrid.TwosComplement(bits));
    }

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    [TestCase(float.NegativeInfinity)]
    public void NonFiniteValuesAreRejected(float bad)
    {
        using var scope = NewDisposeScope();
        Tensor x = tensor(new float[] { 1f, bad, 3f, 4f }, [2, 2]);
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizeWeights(x, 8, Device), "weight", "finite");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(x, 0.1f, 0, IntegerGrid.NonNegative(8), Device), "input", "finite");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizeLearned(x, tensor(new[] { 0.1f }), IntegerGrid.NonNegative(8), Device), "input", "finite");
        ArgumentAssert.Rejects(() => Quantize.Ranges(x, 1, Device), "input", "finite");
    }

    [Test]
    public void BadScalesAndZeroPointsAreRejected()
    {
        using var scope = NewDisposeScope();
        Tensor x = ones(2, 3);
        IntegerGrid grid = IntegerGrid.NonNegative(4);
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(x, 0f, 0, grid, Device), "scales", "positive");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(x, float.NaN, 0, grid, Device), "scales", "positive");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(x, 0.1f, 16, grid, Device), "zeroPoints", "grid");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizePerChannel(x, [0.1f], [0], grid, Device), "scales", "one scale per channel");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizePerChannel(x, [0.1f, 0.2f], [0], grid, Device), "zeroPoints", "one zero point per scale");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(x, 0.1f, 0, default, Device), "grid", "empty grid");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizeLearned(x, tensor(new[] { -1f }), grid, Device), "step", "positive");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizeLearned(x, tensor(new[] { 1f, 2f }), grid, Device), "step", "one element");
        ArgumentAssert.Rejects(() => Quantize.Ranges(x, 4, Device), "rows", "divide");
    }

    [Test]
    public void WrongTensorsAreRejected()
    {
        using var scope = NewDisposeScope();
        IntegerGrid grid = IntegerGrid.NonNegative(8);
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(ones(3, ScalarType.Float64), 0.1f, 0, grid, Device), "input", "float32");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(ones(0, 3), 0.1f, 0, grid, Device), "input", "empty");
        ArgumentAssert.Rejects(() => Quantize.FakeQuantizeWeights(tensor(1f), 8, Device), "weight", "rank");
        Tensor disposed = ones(3);
        disposed.Dispose();
        ArgumentAssert.Rejects(() => Quantize.FakeQuantize(disposed, 0.1f, 0, grid, Device), "input", "disposed");
    }
}
