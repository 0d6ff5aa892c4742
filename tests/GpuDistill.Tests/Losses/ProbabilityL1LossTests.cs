using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.ProbabilityL1"/> through TorchSharp autograd: an upstream gradient of 2.5 reaches
/// student and teacher logits as 2.5 times the float64 reference gradients; a teacher that needs no gradient gets
/// none; and a generator's input gets libtorch's gradient of the same math through a frozen teacher and a student.
/// At near ties of q and p the reference takes the kernel's sign (<see cref="ProbabilityL1Reference.AtKernelSigns"/>).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class ProbabilityL1LossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private TwoSidedUnderTest Loss => new(
        (s, t, temperature, reduction) => GpuDistill.Losses.ProbabilityL1(s, t, temperature, reduction, Device),
        ProbabilityL1Reference.AtKernelSigns,
        Composite,
        (_, _, _, rowShare) => 2 * rowShare);

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
    public void DefaultIsTheElementwiseMeanOfAbsoluteDifferences()
    {
        // Hand-computed: T = 1, C = 2; q = (1/2, 1/2) from equal logits, p = softmax(0, ln 3) = (1/4, 3/4);
        // |q - p| = (1/4, 1/4), mean over the 2 elements = 1/4.
        using var scope = NewDisposeScope();
        Tensor s = tensor(new float[] { 0.7f, 0.7f }).reshape(1, 2);
        Tensor t = tensor(new float[] { 0f, (float)Math.Log(3) }).reshape(1, 2);
        Assert.That(GpuDistill.Losses.ProbabilityL1(s, t, device: Device).item<float>(), Is.EqualTo(0.25).Within(1e-6));
    }

    private static Tensor Composite(Tensor student, Tensor teacher, double temperature, RowReduction reduction)
    {
        Tensor q = nn.functional.softmax(student / temperature, 1);
        Tensor p = nn.functional.softmax(teacher / temperature, 1);
        Tensor sum = (q - p).abs().sum();
        return reduction == RowReduction.BatchMean ? sum / student.shape[0] : sum / student.numel();
    }
}
