using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to <see cref="GpuDistill.Losses.BatchNormStatistics"/> gets an ArgumentException naming it.</summary>
public sealed class BatchNormStatisticsBadInputTests
{
    private static BatchNormStatisticsInput Layer(Tensor? input = null, Tensor? mean = null, Tensor? variance = null, double weight = 1) =>
        new(input ?? randn(2, 3, 4, 4), mean ?? zeros(3), variance ?? ones(3), weight);

    private static Tensor Run(params BatchNormStatisticsInput[] layers) =>
        GpuDistill.Losses.BatchNormStatistics(layers, TestDevices.Get(AcceleratorKind.Cpu));

    [Test] public void NoLayers() => ArgumentAssert.Rejects(() => Run(), "layers", "at least one");
    [Test] public void NullLayers() => Assert.That(() => GpuDistill.Losses.BatchNormStatistics(null!), Throws.ArgumentNullException);
    [Test] public void InputNotRankFour() => ArgumentAssert.Rejects(() => Run(Layer(), Layer(randn(2, 3, 4))), "layers[1].Input", "rank 4");
    [Test] public void InputNotFloat32() => ArgumentAssert.Rejects(() => Run(Layer(randn(2, 3, 4, 4, ScalarType.Float64))), "layers[0].Input", "float32");
    [Test] public void EmptyInput() => ArgumentAssert.Rejects(() => Run(Layer(zeros(0, 3, 4, 4))), "layers[0].Input", "empty");
    [Test] public void RunningMeanOfWrongShape() => ArgumentAssert.Rejects(() => Run(Layer(mean: zeros(4))), "layers[0].RunningMean", "shape [3]");
    [Test] public void RunningVarianceNegative() => ArgumentAssert.Rejects(() => Run(Layer(variance: tensor(new float[] { 1, -1, 1 }))), "layers[0].RunningVariance", ">= 0");
    [Test] public void RunningMeanNaN() => ArgumentAssert.Rejects(() => Run(Layer(mean: tensor(new float[] { 0, float.NaN, 0 }))), "layers[0].RunningMean", "finite");
    [Test] public void NegativeWeight() => ArgumentAssert.Rejects(() => Run(Layer(weight: -1)), "layers[0].Weight", ">= 0");
    [Test] public void UndefinedLayout() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.BatchNormStatistics([Layer()], layout: (RowLayout)9), "layout", "RowPerThread");

    [TestCase(float.NaN)]
    [TestCase(float.PositiveInfinity)]
    public void NonFiniteInput(float bad)
    {
        Tensor input = randn(2, 3, 4, 4);
        input[1, 2, 3, 0] = tensor(bad);
        ArgumentAssert.Rejects(() => Run(Layer(), Layer(input)), "layers", "layers[1].Input must be finite");
    }
}
