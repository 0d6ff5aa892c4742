using static TorchSharp.torch;

namespace GpuDistill.Tests.Generic;

/// <summary>A fused row loss through its TorchSharp bridge: student and teacher [B, C], labels [B] or null, at T.</summary>
public delegate Tensor BridgedRowLoss(Tensor student, Tensor teacher, Tensor? labels, double temperature);

/// <summary>The float64 reference of the same loss on flat row-major arrays.</summary>
public delegate (double Loss, double[] Gradient) RowLossReference(float[] student, float[] teacher, int rows, int classes,
    double temperature, int[]? labels);

/// <summary>
/// A row loss under test (softened-softmax KL, reverse KL, JSD, DKD) and the scales its checks measure against.
/// </summary>
/// <param name="Fused">The bridge.</param>
/// <param name="Reference">The float64 reference.</param>
/// <param name="Magnitude">The size of the loss's terms for given logits at T (see <see cref="Tolerance.AssertLoss"/>).</param>
/// <param name="GradientScale">The natural size of a gradient entry times the counted rows, at T, with labels or not
/// (w T for a divergence of weight w, plus the hard term's weight).</param>
public sealed record RowLossUnderTest(
    BridgedRowLoss Fused,
    RowLossReference Reference,
    Func<float[], float[], double, double> Magnitude,
    Func<double, bool, double> GradientScale);

/// <summary>The checks every fused row loss's bridge passes, written once.</summary>
public static class RowLossBridgeCheck
{
    /// <summary>The upstream gradient the checks back-propagate: not 1, so a bridge that drops it fails.</summary>
    public const double UpstreamGradient = 2.5;

    /// <summary>
    /// Random logits of one of <see cref="RowKernelRun.Shapes"/> through the bridge, times the upstream gradient: a
    /// scalar loss, the float64 reference's loss and its gradient times the upstream gradient, none for the teacher.
    /// </summary>
    public static void BackwardGivesReferenceGradientTimesUpstream(RowLossUnderTest loss, int shape, double temperature,
        LabelMode labelMode, double scale = 5)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] t = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? y = RandomData.Labels(random, rows, classes, labelMode);

        using var disposeScope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teacher = TensorData.Matrix(t, rows, classes, requiresGrad: true);
        Tensor value = loss.Fused(student, teacher, y is null ? null : TensorData.Labels(y), temperature);
        (value * UpstreamGradient).backward();

        (double expectedLoss, double[] expectedGrad) = loss.Reference(s, t, rows, classes, temperature, y);
        double[] scaledGrad = expectedGrad.Select(g => g * UpstreamGradient).ToArray();
        // Rows saturated to one-hot leave a true gradient far below float32's resolution of the probabilities: measure
        // against 1e-2 of the natural scale then (Tolerance.GradientFloor), as the kernel tests do.
        double floor = Tolerance.GradientFloor(UpstreamGradient * loss.GradientScale(temperature, y is not null)
            / Math.Max(1, RowKernelRun.Counted(rows, y)));

        Assert.Multiple(() =>
        {
            Assert.That(value.shape, Is.Empty, "the loss is a scalar");
            Tolerance.AssertLoss(value.item<float>(), expectedLoss, loss.Magnitude(s, t, temperature));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), scaledGrad, floor), Is.LessThan(Tolerance.Kernel));
            Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        });
    }

    /// <summary>Strided (transposed) student and teacher [12, 7] at T = 2 give the reference loss and a gradient of their shape.</summary>
    public static void NonContiguousInputsAreAccepted(RowLossUnderTest loss, LabelMode labelMode)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 12 * 7, 3);
        float[] t = RandomData.Uniform(random, 12 * 7, 3);
        int[]? y = RandomData.Labels(random, 12, 7, labelMode);
        using var disposeScope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 7, 12).t().requires_grad_(true);
        Tensor teacher = TensorData.Matrix(t, 7, 12).t();
        Tensor value = loss.Fused(student, teacher, y is null ? null : TensorData.Labels(y), 2.0);
        value.backward();
        (double expected, _) = loss.Reference(TensorData.ToArray(student.detach()), TensorData.ToArray(teacher), 12, 7, 2.0, y);
        Assert.That(value.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 12, 7 }));
    }
}
