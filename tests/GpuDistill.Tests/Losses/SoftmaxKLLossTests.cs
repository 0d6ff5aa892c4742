using GpuDistill.Accelerators;
using GpuDistill.SoftmaxKL;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.SoftmaxKL"/> through TorchSharp autograd: values and gradients against the float64
/// reference and against TorchSharp's own log_softmax + kl_div + cross_entropy composite.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class SoftmaxKLLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [Test, Combinatorial]
    public void BackwardGivesReferenceGradientTimesUpstream(
        [Range(0, 4)] int shape,
        [Values(0.5, 4.0, 20.0)] double temperature,
        [Values(false, true)] bool withLabels,
        [Values(5.0, 1e4)] double scale)
    {
        (int rows, int classes) = Kernels.SoftmaxKLKernelTests.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] t = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? y = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;

        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teacher = TensorData.Matrix(t, rows, classes, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.SoftmaxKL(student, teacher, temperature,
            y is null ? null : TensorData.Labels(y), softWeight: 0.9, hardWeight: y is null ? 0 : 0.1, device: Device);
        (loss * UpstreamGradient).backward();

        (double expectedLoss, double[] expectedGrad) =
            SoftmaxKLReference.Compute(s, t, rows, classes, temperature, y, 0.9, y is null ? 0 : 0.1);
        double[] scaledGrad = expectedGrad.Select(g => g * UpstreamGradient).ToArray();
        // Rows saturated to one-hot leave a true gradient far below float32's resolution of the probabilities: measure
        // against 1e-2 of the natural scale then (Tolerance.GradientFloor), as the kernel tests do.
        double floor = Tolerance.GradientFloor(UpstreamGradient * (0.9 * temperature + (y is null ? 0 : 0.1)) / rows);

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
            Tolerance.AssertLoss(loss.item<float>(), expectedLoss, Tolerance.SoftmaxLossMagnitude(s, t, temperature));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), scaledGrad, floor), Is.LessThan(Tolerance.Kernel));
            Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        });
    }

    [TestCase(1, 1, 1.0)]
    [TestCase(2, 3, 0.5)]
    [TestCase(41, 1271, 4.0)]
    [TestCase(256, 10, 20.0)]
    [TestCase(3, 100003, 4.0)]
    public void MatchesTorchSharpComposite(int rows, int classes, double temperature)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, 8);
        float[] t = RandomData.Uniform(random, (long)rows * classes, 8);
        int[] y = RandomData.Labels(random, rows, classes, ignoreIndex: null);

        using var scope = NewDisposeScope();
        Tensor fused = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor labels = TensorData.Labels(y);
        Tensor lossFused = GpuDistill.Losses.SoftmaxKL(fused, TensorData.Matrix(t, rows, classes), temperature,
            labels, softWeight: 0.9, hardWeight: 0.1, device: Device);
        (lossFused * UpstreamGradient).backward();

        Tensor composite = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teacher = TensorData.Matrix(t, rows, classes);
        Tensor kl = nn.functional.kl_div(
            nn.functional.log_softmax(composite / temperature, 1),
            nn.functional.log_softmax(teacher / temperature, 1),
            reduction: nn.Reduction.Sum, log_target: true) / rows * (temperature * temperature);
        Tensor ce = nn.functional.cross_entropy(composite, labels);
        Tensor lossComposite = 0.9 * kl + 0.1 * ce;
        (lossComposite * UpstreamGradient).backward();

        // The composite is float32 too: where both softmaxes saturate (logits 16 at T = 0.5) its loss and gradient are
        // differences of near-equal terms, so each is measured against its natural scale, as the reference tests do.
        double[] compositeGrad = TensorData.ToArray(composite.grad!).Select(v => (double)v).ToArray();
        double gradientFloor = Tolerance.GradientFloor(UpstreamGradient * (0.9 * temperature + 0.1) / rows);
        double magnitude = Tolerance.SoftmaxLossMagnitude(s, t, temperature);
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(lossFused.item<float>() - lossComposite.item<float>()),
                Is.LessThanOrEqualTo(Tolerance.LossBound(lossComposite.item<float>(), magnitude, 1e-4)));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(fused.grad!), compositeGrad, gradientFloor), Is.LessThan(1e-4));
        });
    }

    [Test]
    public void BothLayoutsAgreeThroughTheBridge()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 37 * 300, 6);
        float[] t = RandomData.Uniform(random, 37 * 300, 6);
        using var scope = NewDisposeScope();
        float a = GpuDistill.Losses.SoftmaxKL(TensorData.Matrix(s, 37, 300), TensorData.Matrix(t, 37, 300), 3.0,
            device: Device, layout: SoftmaxKLLayout.RowPerThread).item<float>();
        float b = GpuDistill.Losses.SoftmaxKL(TensorData.Matrix(s, 37, 300), TensorData.Matrix(t, 37, 300), 3.0,
            device: Device, layout: SoftmaxKLLayout.RowPerGroup).item<float>();
        Assert.That(b, Is.EqualTo(a).Within(1e-4).Percent);
    }

    [Test]
    public void NonContiguousInputsAreAccepted()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 12 * 7, 3);
        float[] t = RandomData.Uniform(random, 12 * 7, 3);
        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 7, 12).t().requires_grad_(true); // [12, 7], strided
        Tensor teacher = TensorData.Matrix(t, 7, 12).t();
        Tensor loss = GpuDistill.Losses.SoftmaxKL(student, teacher, 2.0, device: Device);
        loss.backward();
        (double expected, _) = SoftmaxKLReference.Compute(
            TensorData.ToArray(student.detach()), TensorData.ToArray(teacher), 12, 7, 2.0);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 12, 7 }));
    }
}
