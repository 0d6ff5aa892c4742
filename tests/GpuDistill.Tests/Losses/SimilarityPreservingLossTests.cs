using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static GpuDistill.Tests.Losses.RelationalLossTestMath;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.SimilarityPreserving"/> through TorchSharp autograd: an upstream gradient of 2.5
/// reaches the student as 2.5 times the float64 reference gradient and the teacher not at all; loss and gradient
/// agree with the same math in TorchSharp ops differentiated by libtorch in float64.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class SimilarityPreservingLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;
    private const double Bound = 2e-5;

    [TestCase(1, new long[] { 1, 5 }, new long[] { 1, 3 })]
    [TestCase(3, new long[] { 3, 2, 3, 3 }, new long[] { 3, 7 })]
    [TestCase(37, new long[] { 37, 4, 2, 2 }, new long[] { 37, 3, 5 })]
    public void BackwardGivesReferenceGradientTimesUpstream(int batch, long[] studentShape, long[] teacherShape)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, studentShape).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 1, teacherShape).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.SimilarityPreserving(student, teacher, Device);
        (loss * UpstreamGradient).backward();

        int ds = (int)(student.numel() / batch), dt = (int)(teacher.numel() / batch);
        (double expectedLoss, double[] expectedGradient) =
            SimilarityPreservingReference.Compute(Values(student), Values(teacher), batch, ds, dt);
        Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
        Assert.That(student.grad!.shape, Is.EqualTo(studentShape));
        Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        AssertClose(loss.item<float>(), student.grad!, expectedLoss, expectedGradient.Select(g => g * UpstreamGradient).ToArray(),
            Bound, $"B {batch}", gradientFloor: UpstreamGradient / ((double)batch * batch * 3),
            lossFloor: 1.0 / ((double)batch * batch)); // B = 1: both normalised Gram matrices are [1], the loss 0
    }

    [TestCase(2, 7, 4)]
    [TestCase(64, 33, 50)]
    public void MatchesTorchSharpComposite(int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor s = RandomFeatures(random, 3, batch, studentWidth), t = RandomFeatures(random, 3, batch, teacherWidth);
        Tensor fused = s.clone().requires_grad_(true);
        Tensor lossFused = GpuDistill.Losses.SimilarityPreserving(fused, t, Device);
        (lossFused * UpstreamGradient).backward();

        Tensor composite = s.to_type(ScalarType.Float64).requires_grad_(true);
        Tensor lossComposite = SimilarityPreserving(composite, t.to_type(ScalarType.Float64));
        (lossComposite * UpstreamGradient).backward();
        AssertClose(lossFused.item<float>(), fused.grad!, lossComposite.item<double>(), composite.grad!.data<double>().ToArray(),
            Bound, "composite");
    }

    [Test]
    public void NonContiguousInputsAreAccepted()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, 6, 5).t().requires_grad_(true); // [5, 6], strided
        Tensor teacher = RandomFeatures(random, 1, 4, 5).t();
        Tensor loss = GpuDistill.Losses.SimilarityPreserving(student, teacher, Device);
        loss.backward();
        (double expected, _) = SimilarityPreservingReference.Compute(Values(student), Values(teacher), 5, 6, 4);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 5, 6 }));
    }
}
