using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.Kernels;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.AttentionTransfer"/> and <see cref="GpuDistill.Losses.AttentionMap"/> through
/// TorchSharp autograd: values and gradients against the float64 reference and against the same math written in
/// TorchSharp ops (float64), with pooling when student and teacher differ in spatial size; on the host SIMD device the
/// library's libtorch composite (<see cref="GpuDistill.AttentionTransferComposite"/>) answers to the same references.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class AttentionTransferLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [Test, Combinatorial]
    public void BackwardGivesReferenceGradientTimesUpstream(
        [Range(0, 4)] int shape,
        [Values(1.0, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form)
    {
        (int batch, int cs, int ct, int h, int w) = AttentionTransferKernelTests.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)batch * cs * h * w, 2);
        float[] t = RandomData.Uniform(random, (long)batch * ct * h * w, 2);

        using var scope = NewDisposeScope();
        Tensor student = Feature(s, batch, cs, h, w, requiresGrad: true);
        Tensor teacher = Feature(t, batch, ct, h, w, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.AttentionTransfer(student, teacher, p, form, Device);
        (loss * UpstreamGradient).backward();

        (double expectedLoss, double[] expectedGradient) =
            AttentionTransferReference.Compute(s, t, batch, cs, ct, h * w, p, form);
        double gradientScale = AttentionTransferReference.GradientScale(ReferenceMath.ToDouble(s), batch, cs, h * w, p, form);
        double[] scaled = expectedGradient.Select(g => g * UpstreamGradient).ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
            Tolerance.AssertLoss(loss.item<float>(), expectedLoss, AttentionTransferKernelTests.LossMagnitude(h * w, form));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), scaled,
                Tolerance.GradientFloor(gradientScale * UpstreamGradient)), Is.LessThan(Tolerance.Kernel), "gradient");
            Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        });
    }

    [TestCase(1, 3, 3, 1, 1, 2.0)]
    [TestCase(7, 13, 13, 5, 9, 2.0)]
    [TestCase(7, 13, 21, 5, 9, 3.0)]
    [TestCase(3, 16, 8, 6, 6, 1.5)]
    public void MatchesTorchSharpComposite(int batch, int cs, int ct, int h, int w, double p)
    {
        foreach (AttentionTransferForm form in new[] { AttentionTransferForm.Code, AttentionTransferForm.Paper })
        {
            Random random = RandomData.NewRandom();
            float[] s = RandomData.Uniform(random, (long)batch * cs * h * w, 2);
            float[] t = RandomData.Uniform(random, (long)batch * ct * h * w, 2);
            using var scope = NewDisposeScope();
            AssertMatchesComposite(Feature(s, batch, cs, h, w), Feature(t, batch, ct, h, w), p, form);
        }
    }

    [TestCase(8, 8, 16, 16, TestName = "Teacher 16x16 pooled to the student's 8x8")]
    [TestCase(16, 16, 8, 8, TestName = "Student 16x16 pooled to the teacher's 8x8 (gradient through the pooling)")]
    [TestCase(12, 7, 6, 14, TestName = "Each pooled in one dimension to 6x7")]
    [TestCase(9, 9, 4, 4, TestName = "Student 9x9 pooled to 4x4 (uneven windows)")]
    public void DifferentSpatialSizesArePooledLikeTheComposite(int hs, int ws, int ht, int wt)
    {
        foreach (AttentionTransferForm form in new[] { AttentionTransferForm.Code, AttentionTransferForm.Paper })
        {
            Random random = RandomData.NewRandom();
            float[] s = RandomData.Uniform(random, 4L * 6 * hs * ws, 2);
            float[] t = RandomData.Uniform(random, 4L * 10 * ht * wt, 2);
            using var scope = NewDisposeScope();
            AssertMatchesComposite(Feature(s, 4, 6, hs, ws), Feature(t, 4, 10, ht, wt), 2.0, form);
        }
    }

    [Test]
    public void PooledTeacherGetsNoGradient()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = Feature(RandomData.Uniform(random, 2 * 3 * 4 * 4, 1), 2, 3, 4, 4, requiresGrad: true);
        Tensor teacher = Feature(RandomData.Uniform(random, 2 * 5 * 8 * 8, 1), 2, 5, 8, 8, requiresGrad: true);
        GpuDistill.Losses.AttentionTransfer(student, teacher, device: Device).backward();
        Assert.That(student.grad, Is.Not.Null);
        Assert.That(teacher.grad, Is.Null);
    }

    [Test]
    public void AllZeroExampleGivesFiniteLossAndGradientThroughTheBridge([Values] AttentionTransferForm form)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 3 * 4 * 5, 1);
        float[] t = RandomData.Uniform(random, 3 * 4 * 5, 1);
        Array.Clear(s, 0, 4 * 5);
        using var scope = NewDisposeScope();
        Tensor student = Feature(s, 3, 4, 5, 1, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.AttentionTransfer(student, Feature(t, 3, 4, 5, 1), 2, form, Device);
        loss.backward();
        (double expected, _) = AttentionTransferReference.Compute(s, t, 3, 4, 4, 5, 2, form);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(TensorData.ToArray(student.grad!), Has.All.Matches<float>(float.IsFinite));
    }

    [Test]
    public void NonContiguousInputsAreAccepted()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        // [B, H, W, C] storage seen as [B, C, H, W]: strided.
        Tensor student = tensor(RandomData.Uniform(random, 2 * 5 * 6 * 3, 1), [2, 5, 6, 3]).permute(0, 3, 1, 2).requires_grad_(true);
        Tensor teacher = tensor(RandomData.Uniform(random, 2 * 5 * 6 * 4, 1), [2, 5, 6, 4]).permute(0, 3, 1, 2);
        Assert.That(student.is_contiguous(), Is.False);
        Tensor loss = GpuDistill.Losses.AttentionTransfer(student, teacher, device: Device);
        loss.backward();
        (double expected, _) = AttentionTransferReference.Compute(TensorData.ToArray(student.detach()),
            TensorData.ToArray(teacher), 2, 3, 4, 30, 2, AttentionTransferForm.Code);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 2, 3, 5, 6 }));
    }

    [Test, Combinatorial]
    public void AttentionMapAndItsBackwardMatchReferenceAndComposite(
        [Values(0, 1, 3)] int shape,
        [Values(1.0, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form)
    {
        (int batch, int channels, _, int h, int w) = AttentionTransferKernelTests.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] f = RandomData.Uniform(random, (long)batch * channels * h * w, 2);
        float[] g = RandomData.Uniform(random, (long)batch * h * w, 1);

        using var scope = NewDisposeScope();
        Tensor feature = Feature(f, batch, channels, h, w, requiresGrad: true);
        Tensor map = GpuDistill.Losses.AttentionMap(feature, p, form, Device);
        map.backward([tensor(g, [batch, h * w])]);

        double[] f64 = ReferenceMath.ToDouble(f);
        double[] expectedMap = AttentionTransferReference.Map(f64, batch, channels, h * w, p, form);
        double[] expectedGradient = AttentionTransferReference.MapBackward(f64, ReferenceMath.ToDouble(g), batch,
            channels, h * w, p, form);

        Tensor composite = Feature(f, batch, channels, h, w).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor compositeMap = CompositeMap(composite, p, form);
        compositeMap.backward([tensor(g, [batch, h * w]).to_type(ScalarType.Float64)]);

        // With one position the map is constant and the true gradient 0; float64 rounding leaves ~1e-17 there.
        double floor = Tolerance.GradientFloor(AttentionTransferReference.GradientScale(f64, batch, channels, h * w, p,
            form, upstreamSize: g.Max(Math.Abs)));
        Assert.Multiple(() =>
        {
            Assert.That(map.shape, Is.EqualTo(new long[] { batch, h * w }));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(map), expectedMap), Is.LessThan(Tolerance.Kernel), "map");
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(feature.grad!), expectedGradient, floor),
                Is.LessThan(Tolerance.Kernel), "gradient");
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(map), ToDoubles(compositeMap)),
                Is.LessThan(Tolerance.Kernel), "map vs composite");
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(feature.grad!), ToDoubles(composite.grad!), floor),
                Is.LessThan(Tolerance.Kernel), "gradient vs composite");
        });
    }

    [Test]
    public void AttentionMapWithoutGradientStillComputes()
    {
        Random random = RandomData.NewRandom();
        float[] f = RandomData.Uniform(random, 2 * 3 * 4, 1);
        using var scope = NewDisposeScope();
        Tensor map = GpuDistill.Losses.AttentionMap(Feature(f, 2, 3, 2, 2), device: Device);
        Assert.That(map.requires_grad, Is.False);
        double[] expected = AttentionTransferReference.Map(ReferenceMath.ToDouble(f), 2, 3, 4, 2, AttentionTransferForm.Code);
        Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(map), expected), Is.LessThan(Tolerance.Kernel));
    }

    /// <summary>
    /// Fused loss and student gradient (upstream 2.5) against the composite in float64, pooling either feature to the
    /// common size with adaptive_avg_pool2d first, as the library does.
    /// </summary>
    private void AssertMatchesComposite(Tensor student, Tensor teacher, double p, AttentionTransferForm form)
    {
        Tensor fused = student.detach().clone().requires_grad_(true);
        Tensor lossFused = GpuDistill.Losses.AttentionTransfer(fused, teacher, p, form, Device);
        (lossFused * UpstreamGradient).backward();

        Tensor composite = student.detach().to_type(ScalarType.Float64).requires_grad_(true);
        long h = Math.Min(student.shape[2], teacher.shape[2]), w = Math.Min(student.shape[3], teacher.shape[3]);
        Tensor s = nn.functional.adaptive_avg_pool2d(composite, [h, w]);
        Tensor t = nn.functional.adaptive_avg_pool2d(teacher.to_type(ScalarType.Float64), [h, w]);
        Tensor difference = CompositeMap(s, p, form) - CompositeMap(t, p, form);
        Tensor lossComposite = form == AttentionTransferForm.Paper
            ? difference.norm(1, false, 2).mean()
            : difference.pow(2).mean();
        (lossComposite * UpstreamGradient).backward();
        // Measured against the natural gradient size: one position (1x1 maps) makes the true gradient 0.
        double gradientScale = UpstreamGradient * AttentionTransferReference.GradientScale(
            ToDoubles(s.detach()), (int)s.shape[0], (int)s.shape[1], (int)(h * w), p, form);

        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(lossFused.item<float>(), lossComposite.item<double>(),
                AttentionTransferKernelTests.LossMagnitude((int)(h * w), form));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(fused.grad!), ToDoubles(composite.grad!),
                Tolerance.GradientFloor(gradientScale)), Is.LessThan(Tolerance.Kernel), "gradient");
            Assert.That(fused.grad!.shape, Is.EqualTo(student.shape));
        });
    }

    /// <summary>The attention map in TorchSharp ops: F.normalize(mean or sum over channels of |f|^p) over H*W.</summary>
    private static Tensor CompositeMap(Tensor feature, double p, AttentionTransferForm form)
    {
        Tensor powered = feature.abs().pow(p);
        Tensor reduced = form == AttentionTransferForm.Paper ? powered.sum(1) : powered.mean([1]);
        return nn.functional.normalize(reduced.flatten(1), 2.0, 1, 1e-12);
    }

    private static Tensor Feature(float[] values, int batch, int channels, int height, int width, bool requiresGrad = false) =>
        tensor(values, [batch, channels, height, width]).requires_grad_(requiresGrad);

    private static double[] ToDoubles(Tensor t) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(t.contiguous().bytes).ToArray();
}
