using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
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
        [Values(LabelMode.None, LabelMode.LabelsWithIgnored)] LabelMode labels,
        [Values(5.0, 1e4)] double scale) =>
        RowLossBridgeCheck.BackwardGivesReferenceGradientTimesUpstream(Loss, shape, temperature, labels, scale);

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
    public void AnUpstreamGradientOfOneHandsOverTheKernelsGradientAndRepeatedBackwardsAdd()
    {
        // The bridge returns its saved gradient itself when the upstream gradient is 1: libtorch must copy it, never
        // accumulate into it, or a second backward (retain_graph) or a second loss on the same logits would be wrong.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 41 * 1271, 8);
        float[] t = RandomData.Uniform(random, 41 * 1271, 8);
        using var scope = NewDisposeScope();
        Tensor teacher = TensorData.Matrix(t, 41, 1271);
        Tensor scaled = TensorData.Matrix(s, 41, 1271, requiresGrad: true);
        (GpuDistill.Losses.SoftmaxKL(scaled, teacher, 4.0, device: Device) * UpstreamGradient).backward();
        Tensor expected = scaled.grad!.div(UpstreamGradient);

        Tensor leaf = TensorData.Matrix(s, 41, 1271, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.SoftmaxKL(leaf, teacher, 4.0, device: Device);
        loss.backward(retain_graph: true);
        Tensor first = leaf.grad!.clone();
        loss.backward(retain_graph: true);
        Tensor second = leaf.grad!.clone();
        loss.backward();

        Tensor twice = TensorData.Matrix(s, 41, 1271, requiresGrad: true);
        (GpuDistill.Losses.SoftmaxKL(twice, teacher, 4.0, device: Device) + GpuDistill.Losses.SoftmaxKL(twice, teacher, 4.0, device: Device)).backward();
        Assert.Multiple(() =>
        {
            Assert.That(first.allclose(expected, rtol: 1e-5, atol: 1e-9), Is.True, "upstream 1 gives the kernel's gradient");
            Assert.That(second.eq(first * 2).all().item<bool>(), Is.True, "a second backward adds the same gradient once");
            Assert.That(leaf.grad!.eq(first * 3).all().item<bool>(), Is.True, "and a third");
            Assert.That(twice.grad!.allclose(first * 2, rtol: 1e-6, atol: 0), Is.True, "two losses on one input add");
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
            device: Device, layout: RowLayout.RowPerThread).item<float>();
        float b = GpuDistill.Losses.SoftmaxKL(TensorData.Matrix(s, 37, 300), TensorData.Matrix(t, 37, 300), 3.0,
            device: Device, layout: RowLayout.RowPerGroup).item<float>();
        Assert.That(b, Is.EqualTo(a).Within(1e-4).Percent);
    }

    [Test]
    public void NonContiguousInputsAreAccepted() => RowLossBridgeCheck.NonContiguousInputsAreAccepted(Loss, LabelMode.None);

    /// <summary>KD as trained: 0.9 of the soft term, plus 0.1 of cross-entropy where there are labels.</summary>
    private RowLossUnderTest Loss => new(
        (s, t, y, temperature) => GpuDistill.Losses.SoftmaxKL(s, t, temperature, y, softWeight: 0.9,
            hardWeight: y is null ? 0 : 0.1, device: Device),
        (s, t, rows, classes, temperature, y) =>
            SoftmaxKLReference.Compute(s, t, rows, classes, temperature, y, 0.9, y is null ? 0 : 0.1),
        Tolerance.SoftmaxLossMagnitude,
        (temperature, withLabels) => 0.9 * temperature + (withLabels ? 0.1 : 0));
}
