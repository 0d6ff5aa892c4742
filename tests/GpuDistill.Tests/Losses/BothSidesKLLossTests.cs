using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.SoftmaxKLBothSides"/> through TorchSharp autograd: an upstream gradient of 2.5 reaches
/// student and teacher logits as 2.5 times the float64 reference gradients; a teacher that needs no gradient gets
/// none; and a generator's input gets libtorch's gradient of the same math through a frozen teacher and a student.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class BothSidesKLLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private TwoSidedUnderTest Loss => new(
        (s, t, temperature, reduction) => GpuDistill.Losses.SoftmaxKLBothSides(s, t, temperature, reduction, Device),
        (s, t, rows, classes, temperature, elementwise, y, _) =>
            BothSidesKLReference.Compute(s, t, rows, classes, temperature, elementwise, y),
        Composite,
        (s, t, temperature, rowShare) => Tolerance.SoftLossMagnitude(s, t, temperature, rowShare / (temperature * temperature)));

    [Test, Combinatorial]
    public void BothGetReferenceGradientTimesUpstream(
        [Range(0, 4)] int shape,
        [Values(0.5, 4.0)] double temperature,
        [Values] RowReduction reduction) =>
        TwoSidedBridgeCheck.BothGetReferenceGradientTimesUpstream(Loss, shape, temperature, reduction);

    [Test]
    public void TeacherWithoutGradientGetsNone() => TwoSidedBridgeCheck.TeacherWithoutGradientGetsNone(Loss);

    [Test]
    public void GradientReachesTheInputThroughAFrozenTeacher([Values] RowReduction reduction) =>
        TwoSidedBridgeCheck.GradientReachesTheInputThroughAFrozenTeacher(Loss, reduction);

    [Test]
    public void NonContiguousInputsAreAccepted() => TwoSidedBridgeCheck.NonContiguousInputsAreAccepted(Loss);

    [Test]
    public void ZSKTDivergenceIsTheBatchMeanOverClasses()
    {
        // ZSKT's F.kl_div default (elementwise mean) is the batchmean divided by C.
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor s = TensorData.Matrix(RandomData.Uniform(random, 8 * 10, 4), 8, 10);
        Tensor t = TensorData.Matrix(RandomData.Uniform(random, 8 * 10, 4), 8, 10);
        double batchMean = GpuDistill.Losses.SoftmaxKLBothSides(s, t, 1.0, RowReduction.BatchMean, Device).item<float>();
        double elementwise = GpuDistill.Losses.SoftmaxKLBothSides(s, t, 1.0, RowReduction.ElementwiseMean, Device).item<float>();
        Assert.That(elementwise, Is.EqualTo(batchMean / 10).Within(1e-4).Percent);
    }

    private static Tensor Composite(Tensor student, Tensor teacher, double temperature, RowReduction reduction)
    {
        Tensor logQ = nn.functional.log_softmax(student / temperature, 1);
        Tensor logP = nn.functional.log_softmax(teacher / temperature, 1);
        Tensor sum = (logP.exp() * (logP - logQ)).sum();
        return reduction == RowReduction.BatchMean ? sum / student.shape[0] : sum / student.numel();
    }
}
