using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.DecoupledKD"/> through TorchSharp autograd: the reference gradient times an
/// upstream 2.5, no teacher gradient, mdistiller's defaults, and agreement with mdistiller's formulation (binary
/// masked sums, -1000 target mask) written in TorchSharp ops and differentiated by libtorch in float64.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class DecoupledKDLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [Test, Combinatorial]
    public void BackwardGivesReferenceGradientTimesUpstream(
        [Range(0, 4)] int shape,
        [Values(0.5, 4.0)] double temperature,
        [Values(LabelMode.Labels, LabelMode.LabelsWithIgnored)] LabelMode labels) =>
        RowLossBridgeCheck.BackwardGivesReferenceGradientTimesUpstream(Loss(alpha: 1.2, beta: 6.0, warmup: 0.75), shape,
            temperature, labels);

    [Test]
    public void DefaultsAreMdistillers()
    {
        // T = 4, alpha = 1, beta = 8, warm-up weight 1.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 16 * 100, 6);
        float[] t = RandomData.Uniform(random, 16 * 100, 6);
        int[] y = RandomData.Labels(random, 16, 100, ignoreIndex: null);
        using var scope = NewDisposeScope();
        float loss = GpuDistill.Losses.DecoupledKD(TensorData.Matrix(s, 16, 100), TensorData.Matrix(t, 16, 100),
            TensorData.Labels(y), device: Device).item<float>();
        (double expected, _) = DecoupledKDReference.Compute(s, t, 16, 100, y, 4.0, 1.0, 8.0, 1.0);
        Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(s, t, 4.0, 9.0));
    }

    [TestCase(2, 3, 0.5)]
    [TestCase(41, 1271, 4.0)]
    [TestCase(256, 10, 20.0)]
    [TestCase(3, 100003, 1.0)]
    public void MatchesMdistillerFormulationInTorchSharp(int rows, int classes, double temperature)
    {
        const double alpha = 1.0, beta = 8.0, warmup = 0.5;
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, 8);
        float[] t = RandomData.Uniform(random, (long)rows * classes, 8);
        int[] y = RandomData.Labels(random, rows, classes, ignoreIndex: -100);
        y[0] = 0;

        using var scope = NewDisposeScope();
        Tensor labels = TensorData.Labels(y);
        Tensor fused = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor lossFused = GpuDistill.Losses.DecoupledKD(fused, TensorData.Matrix(t, rows, classes), labels,
            temperature, alpha, beta, warmup, device: Device);
        (lossFused * UpstreamGradient).backward();

        // mdistiller: b = [sum p * gt, sum p * (1 - gt)], TCKD = KL(b_t || b_s) through log(b_s); NCKD from the
        // softmax of u - 1000 gt. Padding rows get target 0 here and are masked out of the mean. TorchSharp's
        // kl_div takes a log target by default, so the probabilities are passed with log_target: false. Float64,
        // since float32 autograd of these formulas loses peaked rows to cancellation.
        Tensor counted = labels.ne(-100);
        Tensor gt = nn.functional.one_hot(where(counted, labels, zeros_like(labels)), classes).to_type(ScalarType.Float64);
        Tensor composite = TensorData.Matrix(s, rows, classes).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor us = composite / temperature;
        Tensor ut = TensorData.Matrix(t, rows, classes).to_type(ScalarType.Float64) / temperature;
        Tensor qs = nn.functional.softmax(us, 1), pt = nn.functional.softmax(ut, 1);
        Tensor bs = stack([(qs * gt).sum(1), (qs * (1 - gt)).sum(1)], 1);
        Tensor bt = stack([(pt * gt).sum(1), (pt * (1 - gt)).sum(1)], 1);
        Tensor tckd = nn.functional.kl_div(bs.log(), bt, reduction: nn.Reduction.None, log_target: false).sum(1);
        Tensor logQHat = nn.functional.log_softmax(us - 1000 * gt, 1);
        Tensor pHat = nn.functional.softmax(ut - 1000 * gt, 1);
        Tensor nckd = nn.functional.kl_div(logQHat, pHat, reduction: nn.Reduction.None, log_target: false).sum(1);
        Tensor mask = counted.to_type(ScalarType.Float64);
        Tensor lossComposite = warmup * temperature * temperature * ((alpha * tckd + beta * nckd) * mask).sum() / mask.sum();
        (lossComposite * UpstreamGradient).backward();

        double[] compositeGrad = composite.grad!.data<double>().ToArray();
        int countedRows = y.Count(v => v != -100);
        double floor = Tolerance.GradientFloor(UpstreamGradient * warmup * (alpha + beta) * temperature / countedRows);
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(lossFused.item<float>(), lossComposite.item<double>(),
                Tolerance.SoftLossMagnitude(s, t, temperature, warmup * (alpha + beta)));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(fused.grad!), compositeGrad, floor), Is.LessThan(Tolerance.Kernel));
        });
    }

    [Test]
    public void NonContiguousInputsAreAccepted() =>
        RowLossBridgeCheck.NonContiguousInputsAreAccepted(Loss(alpha: 1, beta: 8, warmup: 1), LabelMode.Labels);

    private RowLossUnderTest Loss(double alpha, double beta, double warmup) => new(
        (s, t, y, temperature) => GpuDistill.Losses.DecoupledKD(s, t, y!, temperature, alpha, beta, warmup, device: Device),
        (s, t, rows, classes, temperature, y) =>
            DecoupledKDReference.Compute(s, t, rows, classes, y!, temperature, alpha, beta, warmup),
        (s, t, temperature) => Tolerance.SoftLossMagnitude(s, t, temperature, warmup * (alpha + beta)),
        (temperature, _) => warmup * (alpha + beta) * temperature);
}
