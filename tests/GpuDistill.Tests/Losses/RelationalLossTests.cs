using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static GpuDistill.Tests.Losses.RelationalLossTestMath;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.RelationalDistance"/> and <see cref="GpuDistill.Losses.RelationalAngle"/> through
/// TorchSharp autograd: upstream gradient 2.5 against the float64 references and against the same math in TorchSharp
/// ops (which materialises B x B x D and B x B x B); the angle loss also at B = 256, D = 512.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class RelationalLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;
    private const double Bound = 2e-5;
    // Both losses are Huber over relations of order 1 (distances over their mean, cosines): a loss of 0 (B = 2 has one
    // distance, which normalises to 1 on both sides) comes out of float32 as ~1e-15, so it is measured against 1e-3.
    private const double NormalisedRelationScale = 1e-3;

    [TestCase(false, 2, new long[] { 2, 5 }, new long[] { 2, 3 })]
    [TestCase(false, 37, new long[] { 37, 2, 3, 2 }, new long[] { 37, 9 })]
    [TestCase(true, 1, new long[] { 1, 5 }, new long[] { 1, 3 })]
    [TestCase(true, 3, new long[] { 3, 2, 2, 2 }, new long[] { 3, 7 })]
    [TestCase(true, 37, new long[] { 37, 4, 3 }, new long[] { 37, 5 })]
    public void BackwardGivesReferenceGradientTimesUpstream(bool angle, int batch, long[] studentShape, long[] teacherShape)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, studentShape).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 1, teacherShape).requires_grad_(true);
        Tensor loss = angle
            ? GpuDistill.Losses.RelationalAngle(student, teacher, Device)
            : GpuDistill.Losses.RelationalDistance(student, teacher, Device);
        (loss * UpstreamGradient).backward();

        int ds = (int)(student.numel() / batch), dt = (int)(teacher.numel() / batch);
        (double expectedLoss, double[] expectedGradient) = angle
            ? RelationalAngleReference.Compute(Values(student), Values(teacher), batch, ds, dt)
            : RelationalDistanceReference.Compute(Values(student), Values(teacher), batch, ds, dt);
        Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
        Assert.That(student.grad!.shape, Is.EqualTo(studentShape));
        Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        AssertClose(loss.item<float>(), student.grad!, expectedLoss, expectedGradient.Select(g => g * UpstreamGradient).ToArray(),
            Bound, $"{(angle ? "angle" : "distance")} B {batch}", gradientFloor: UpstreamGradient / ((double)batch * batch * 3),
            lossFloor: NormalisedRelationScale);
    }

    [TestCase(false, 5, 7, 4)]
    [TestCase(false, 64, 33, 50)]
    [TestCase(true, 5, 7, 4)]
    [TestCase(true, 40, 33, 50)]
    public void MatchesTorchSharpComposite(bool angle, int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor s = RandomFeatures(random, 3, batch, studentWidth), t = RandomFeatures(random, 3, batch, teacherWidth);
        Tensor fused = s.clone().requires_grad_(true);
        Tensor lossFused = angle
            ? GpuDistill.Losses.RelationalAngle(fused, t, Device)
            : GpuDistill.Losses.RelationalDistance(fused, t, Device);
        (lossFused * UpstreamGradient).backward();

        Tensor composite = s.to_type(ScalarType.Float64).requires_grad_(true);
        Tensor t64 = t.to_type(ScalarType.Float64);
        Tensor lossComposite = angle ? RelationalAngle(composite, t64) : RelationalDistance(composite, t64);
        (lossComposite * UpstreamGradient).backward();
        AssertClose(lossFused.item<float>(), fused.grad!, lossComposite.item<double>(), composite.grad!.data<double>().ToArray(),
            Bound, angle ? "angle" : "distance");
    }

    [Test]
    public void AngleRunsAtBatch256Width512()
    {
        // The composite's B x B x D difference tensor alone is 134 MB here; the kernels use 2.4 MB of scratch. The
        // loss is checked against the composite evaluated one anchor at a time (float64, no graph).
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, 256, 512).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 1, 256, 512);
        Tensor loss = GpuDistill.Losses.RelationalAngle(student, teacher, Device);
        loss.backward();

        Tensor s64 = student.detach().to_type(ScalarType.Float64), t64 = teacher.to_type(ScalarType.Float64);
        double expected = 0;
        for (int i = 0; i < 256; i++)
        {
            using var anchorScope = NewDisposeScope();
            Tensor us = nn.functional.normalize(s64 - s64[i], 2, 1, 1e-12);
            Tensor ut = nn.functional.normalize(t64 - t64[i], 2, 1, 1e-12);
            expected += nn.functional.smooth_l1_loss(us.matmul(us.t()), ut.matmul(ut.t()), nn.Reduction.Sum).item<double>();
        }
        expected /= 256.0 * 256 * 256;
        Assert.That(Math.Abs(loss.item<float>() - expected) / expected, Is.LessThan(Bound));
        Assert.That(TensorData.ToArray(student.grad!).All(float.IsFinite), "gradient finite");
        Assert.That(student.grad!.abs().max().item<float>(), Is.GreaterThan(0f));
    }
}
