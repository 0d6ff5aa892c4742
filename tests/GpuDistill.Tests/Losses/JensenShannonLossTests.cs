using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.JensenShannon"/> through TorchSharp autograd: the reference gradient times an
/// upstream 2.5, no teacher gradient, and agreement with the same math in TorchSharp ops (log M by logsumexp),
/// differentiated by libtorch in float64.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class JensenShannonLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [Test, Combinatorial]
    public void BackwardGivesReferenceGradientTimesUpstream(
        [Range(0, 4)] int shape,
        [Values(0.0, 0.3, 1.0)] double beta,
        [Values(LabelMode.None, LabelMode.LabelsWithIgnored)] LabelMode labels) =>
        RowLossBridgeCheck.BackwardGivesReferenceGradientTimesUpstream(Loss(beta), shape, temperature: 2.0, labels);

    [TestCase(0, 0.5, 1.0)]
    [TestCase(1, 0.0, 0.5)]
    [TestCase(1, 0.1, 4.0)]
    [TestCase(2, 0.5, 4.0)]
    [TestCase(2, 1.0, 0.5)]
    [TestCase(3, 0.9, 20.0)]
    [TestCase(3, 0.0, 4.0)]
    [TestCase(4, 0.5, 1.0)]
    [TestCase(4, 1.0, 4.0)]
    public void MatchesTorchSharpComposite(int shape, double beta, double temperature)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, 8);
        float[] t = RandomData.Uniform(random, (long)rows * classes, 8);

        using var scope = NewDisposeScope();
        Tensor fused = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor lossFused = GpuDistill.Losses.JensenShannon(fused, TensorData.Matrix(t, rows, classes), temperature, beta,
            device: Device);
        (lossFused * UpstreamGradient).backward();

        // The same math in TorchSharp ops, differentiated by libtorch in float64 (float32 autograd of these
        // formulas loses the gradient of peaked rows to cancellation).
        Tensor composite = TensorData.Matrix(s, rows, classes).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor logQ = nn.functional.log_softmax(composite / temperature, 1);
        Tensor logP = nn.functional.log_softmax(TensorData.Matrix(t, rows, classes).to_type(ScalarType.Float64) / temperature, 1);
        Tensor divergence;
        if (beta == 0)
        {
            divergence = logP.exp() * (logP - logQ);
        }
        else if (beta == 1)
        {
            divergence = logQ.exp() * (logQ - logP);
        }
        else
        {
            Tensor logM = stack([logP + Math.Log(beta), logQ + Math.Log(1 - beta)]).logsumexp(0);
            divergence = beta * logP.exp() * (logP - logM) + (1 - beta) * logQ.exp() * (logQ - logM);
        }
        Tensor lossComposite = divergence.sum() / rows * (temperature * temperature);
        (lossComposite * UpstreamGradient).backward();

        double[] compositeGrad = composite.grad!.data<double>().ToArray();
        double floor = Tolerance.GradientFloor((beta is > 0 and < 1 ? 1 - beta : 1) * UpstreamGradient * temperature / rows);
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(lossFused.item<float>(), lossComposite.item<double>(), Tolerance.SoftLossMagnitude(s, t, temperature));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(fused.grad!), compositeGrad, floor), Is.LessThan(Tolerance.Kernel));
        });
    }

    [Test]
    public void NonContiguousInputsAreAccepted() => RowLossBridgeCheck.NonContiguousInputsAreAccepted(Loss(0.5), LabelMode.None);

    private RowLossUnderTest Loss(double beta) => new(
        (s, t, y, temperature) => GpuDistill.Losses.JensenShannon(s, t, temperature, beta, y, device: Device),
        (s, t, rows, classes, temperature, y) => JensenShannonReference.Compute(s, t, rows, classes, temperature, beta, y),
        (s, t, temperature) => Tolerance.SoftLossMagnitude(s, t, temperature),
        (temperature, _) => temperature);
}
