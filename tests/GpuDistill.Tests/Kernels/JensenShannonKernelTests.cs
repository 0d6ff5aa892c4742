using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The fused JSD kernels, both layouts, against the float64 reference at beta in {0, 0.1, 0.5, 0.9, 1}. Row per
/// thread runs every combination; row per group and the 3 x 100003 rows run NUnit's pairwise set.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class JensenShannonKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test, Combinatorial]
    public void RowPerThreadMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(0.0, 0.1, 0.5, 0.9, 1.0)] double beta)
    {
        // Scales and label modes run inside one case (each launch takes milliseconds; fewer NUnit cases keep the
        // suite fast, as every case is instantiated for each accelerator kind).
        foreach (double scale in new[] { 5.0, 1e4 })
        foreach (bool withLabels in new[] { false, true })
            Check(shape, temperature, scale, beta, withLabels, RowLayout.RowPerThread);
    }

    [Test, Pairwise]
    public void RowPerGroupMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values(0.0, 0.1, 0.5, 0.9, 1.0)] double beta,
        [Values] bool withLabels) =>
        Check(shape, temperature, scale, beta, withLabels, RowLayout.RowPerGroup);

    [Test, Pairwise]
    public void LongRowsMatchReference(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(0.5, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values(0.0, 0.1, 0.5, 0.9, 1.0)] double beta) =>
        Check(4, temperature, scale, beta, withLabels: false, layout);

    [Test]
    public void EndpointsAreExactlyTheKLKernels(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 7 * 300, 6);
        float[] t = RandomData.Uniform(random, 7 * 300, 6);
        (double forward, float[] forwardGrad) = RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<SoftmaxKLRow>>(), s, t, null,
            new SoftmaxKLRow(7, 300, 3f, 1f, 0f, false, -100, 7), layout);
        (double reverse, float[] reverseGrad) = RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<ReverseKLRow>>(), s, t, null,
            new ReverseKLRow(7, 300, 3f, false, -100, 7), layout);
        (double at0, float[] at0Grad) = Run(s, t, null, 7, 300, 3.0, 0.0, layout);
        (double at1, float[] at1Grad) = Run(s, t, null, 7, 300, 3.0, 1.0, layout);
        Assert.Multiple(() =>
        {
            if (layout == RowLayout.RowPerThread)
            {
                // Same row functions, same order of operations: bit for bit.
                Assert.That(at0, Is.EqualTo(forward));
                Assert.That(at0Grad, Is.EqualTo(forwardGrad));
                Assert.That(at1, Is.EqualTo(reverse));
                Assert.That(at1Grad, Is.EqualTo(reverseGrad));
            }
            else
            {
                // The CPU accelerator's group reductions add in a varying order, so two launches differ in rounding.
                Assert.That(Tolerance.RelativeError(at0, forward), Is.LessThan(1e-6));
                Assert.That(Tolerance.RelativeMaxError(at0Grad, Array.ConvertAll(forwardGrad, v => (double)v)), Is.LessThan(1e-6));
                Assert.That(Tolerance.RelativeError(at1, reverse), Is.LessThan(1e-6));
                Assert.That(Tolerance.RelativeMaxError(at1Grad, Array.ConvertAll(reverseGrad, v => (double)v)), Is.LessThan(1e-6));
            }
        });
    }

    [Test]
    public void BetaNearTheEndpointsMatchesReference(
        [Values(1e-7, 1 - 1e-7)] double beta,
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // Only the endpoints themselves are the KLs; next to them the mixture divergence goes to 0 continuously.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 5 * 40, 8);
        float[] t = RandomData.Uniform(random, 5 * 40, 8);
        (double expected, double[] expectedGradient) = JensenShannonReference.Compute(s, t, 5, 40, 2.0, beta);
        (double loss, float[] gradient) = Run(s, t, null, 5, 40, 2.0, beta, layout);
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(s, t, 2.0));
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient, Tolerance.GradientFloor(GradientScale(2.0, beta) / 5)),
                Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    [Test]
    public void BetaAtTheEdgeOfDoublePrecisionIsTheScaledKL(
        [Values(1e-30, 1 - 1e-16)] double beta,
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // The float64 reference cannot follow here (log q - log m ~ 1e-30 vanishes next to log q), but the limits
        // can: JSD_beta = beta KL(P || Q) + O(beta^2) as beta -> 0 and (1 - beta) KL(Q || P) + O((1 - beta)^2) as
        // beta -> 1, and likewise for the gradients.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 5 * 40, 8);
        float[] t = RandomData.Uniform(random, 5 * 40, 8);
        double weight = beta < 0.5 ? beta : 1 - beta;
        (double kl, double[] klGradient) = beta < 0.5
            ? SoftmaxKLReference.Compute(s, t, 5, 40, 2.0)
            : ReverseKLReference.Compute(s, t, 5, 40, 2.0);
        (double loss, float[] gradient) = Run(s, t, null, 5, 40, 2.0, beta, layout);
        Assert.Multiple(() =>
        {
            Assert.That(loss, Is.EqualTo(weight * kl).Within(1e-4 * weight * kl));
            Assert.That(Tolerance.RelativeMaxError(gradient, klGradient.Select(g => weight * g).ToArray()), Is.LessThan(1e-4));
        });
    }

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(0.0, 0.5, 1.0)] double beta) =>
        RowKernelRun.AssertPaddingGivesNothing((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 2.0, beta, layout));

    [Test]
    public void LabelOutOfRangeGivesNaNRowLossNotACrash(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertBadLabelGivesNaN((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 1.0, 0.5, layout));

    [Test]
    public void ParametersRejectBetaOutsideTheUnitInterval() =>
        Assert.That(() => new JensenShannonRow(2, 3, 1f, 1.5, false, -100, 2),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("beta"));

    private void Check(int shape, double temperature, double scale, double beta, bool withLabels, RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;

        (double expectedLoss, double[] expectedGradient) =
            JensenShannonReference.Compute(student, teacher, rows, classes, temperature, beta, labels);
        (double loss, float[] gradient) = Run(student, teacher, labels, rows, classes, temperature, beta, layout);

        RowKernelRun.AssertMatches((loss, gradient), (expectedLoss, expectedGradient),
            Tolerance.SoftLossMagnitude(student, teacher, temperature), GradientScale(temperature, beta),
            RowKernelRun.Counted(rows, labels),
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, beta {beta}, labels {withLabels}, {layout}");
    }

    /// <summary>The gradient's natural scale is (1 - beta) T / N inside (0, 1) and T / N at the KL endpoints.</summary>
    private static double GradientScale(double temperature, double beta) => (beta is > 0 and < 1 ? 1 - beta : 1) * temperature;

    private (double Loss, float[] Gradient) Run(float[] student, float[] teacher, int[]? labels, int rows, int classes,
        double temperature, double beta, RowLayout layout)
    {
        var p = new JensenShannonRow(rows, classes, (float)temperature, beta, labels is not null, -100,
            RowKernelRun.Counted(rows, labels));
        return RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<JensenShannonRow>>(), student, teacher, labels, p, layout);
    }
}
