using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The fused DKD kernels, both layouts, against the float64 reference, with labels (and padding rows). Row per
/// thread runs every combination; row per group and the 3 x 100003 rows run NUnit's pairwise set.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class DecoupledKDKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double Alpha = 1.5, Beta = 8.0, Warmup = 0.6;

    [Test, Combinatorial]
    public void RowPerThreadMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature)
    {
        // Scales and padding modes run inside one case (each launch takes milliseconds; fewer NUnit cases keep the
        // suite fast, as every case is instantiated for each accelerator kind).
        foreach (double scale in new[] { 5.0, 1e4 })
        foreach (bool ignoredRows in new[] { false, true })
            Check(shape, temperature, scale, ignoredRows, RowLayout.RowPerThread);
    }

    [Test, Pairwise]
    public void RowPerGroupMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values] bool ignoredRows) =>
        Check(shape, temperature, scale, ignoredRows, RowLayout.RowPerGroup);

    [Test, Pairwise]
    public void LongRowsMatchReference(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale) =>
        Check(4, temperature, scale, ignoredRows: false, layout);

    [Test]
    public void ConfidentTargetsStayFinite(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // Row 0: the teacher puts 1 - e^-200 on the target, row 1 the student does: 1 - p_g underflows float32
        // (log of a masked sum would give -inf and NaN), the log-sum-exp form stays finite and exact.
        float[] student = [0, 1, -1, 0.5f, 200, 0, 1, -2];
        float[] teacher = [200, 0, 1, -1, 0, 3, 0, 1];
        int[] labels = [0, 0];
        (double expected, double[] expectedGradient) =
            DecoupledKDReference.Compute(student, teacher, 2, 4, labels, 1.0, Alpha, Beta, Warmup);
        (double loss, float[] gradient) = Run(student, teacher, labels, 2, 4, 1.0, layout);
        Assert.Multiple(() =>
        {
            Assert.That(double.IsFinite(expected), $"reference {expected}");
            Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(student, teacher, 1.0, Warmup * (Alpha + Beta)));
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient), Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertPaddingGivesNothing((s, t, y, rows, classes) => Run(s, t, y!, rows, classes, 2.0, layout));

    [Test]
    public void LabelOutOfRangeGivesNaNRowLossNotACrash(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertBadLabelGivesNaN((s, t, y, rows, classes) => Run(s, t, y!, rows, classes, 1.0, layout));

    private void Check(int shape, double temperature, double scale, bool ignoredRows, RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[] labels = RandomData.Labels(random, rows, classes, ignoredRows ? -100 : null);

        (double expectedLoss, double[] expectedGradient) =
            DecoupledKDReference.Compute(student, teacher, rows, classes, labels, temperature, Alpha, Beta, Warmup);
        (double loss, float[] gradient) = Run(student, teacher, labels, rows, classes, temperature, layout);

        RowKernelRun.AssertMatches((loss, gradient), (expectedLoss, expectedGradient),
            Tolerance.SoftLossMagnitude(student, teacher, temperature, Warmup * (Alpha + Beta)),
            Warmup * (Alpha + Beta) * temperature, RowKernelRun.Counted(rows, labels),
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, padding {ignoredRows}, {layout}");
    }

    private (double Loss, float[] Gradient) Run(float[] student, float[] teacher, int[] labels, int rows, int classes,
        double temperature, RowLayout layout)
    {
        var p = new DecoupledKDRow(rows, classes, (float)temperature, (float)Alpha, (float)Beta, (float)Warmup,
            -100, RowKernelRun.Counted(rows, labels));
        return RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<DecoupledKDRow>>(), student, teacher, labels, p, layout);
    }
}
