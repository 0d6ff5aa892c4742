using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The fused reverse-KL kernels, both layouts, straight through the launcher, against the float64 reference. Row per
/// thread runs every combination; row per group runs NUnit's pairwise set (every pair of values at least once),
/// because the CPU accelerator simulates its barriers about a hundred times slower; the 3 x 100003 rows run fewer.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class ReverseKLKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test, Combinatorial]
    public void RowPerThreadMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature)
    {
        // Scales and label modes run inside one case (each launch takes milliseconds; fewer NUnit cases keep the
        // suite fast, as every case is instantiated for each accelerator kind).
        foreach (double scale in new[] { 5.0, 1e4 })
        foreach (bool withLabels in new[] { false, true })
            Check(shape, temperature, scale, withLabels, RowLayout.RowPerThread);
    }

    [Test, Pairwise]
    public void RowPerGroupMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values] bool withLabels) =>
        Check(shape, temperature, scale, withLabels, RowLayout.RowPerGroup);

    [Test, Pairwise]
    public void LongRowsMatchReference(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values(5.0, 1e4)] double scale) =>
        Check(4, temperature, scale, withLabels: false, layout);

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertPaddingGivesNothing((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 2.0, layout));

    [Test]
    public void LabelOutOfRangeGivesNaNRowLossNotACrash(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertBadLabelGivesNaN((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 1.0, layout));

    [Test]
    public void OneHotStudentGivesExactlyZeroGradient(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // q is one-hot in float32 and float64 alike, so the reference gradient is 0: the kernel's r - KL must cancel
        // exactly rather than leave the ~1e-3 rounding of logits this size.
        float[] student = [9000, -8000, 1000, -3000, 7000, 500];
        float[] teacher = [-4000, 6000, 1234, 8000, -777, 5];
        (double loss, float[] gradient) = Run(student, teacher, null, 2, 3, 0.5, layout);
        (double expected, _) = ReverseKLReference.Compute(student, teacher, 2, 3, 0.5);
        Tolerance.AssertLoss(loss, expected, Tolerance.SoftLossMagnitude(student, teacher, 0.5));
        Assert.That(gradient, Is.All.Zero);
    }

    private void Check(int shape, double temperature, double scale, bool withLabels, RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;

        (double expectedLoss, double[] expectedGradient) =
            ReverseKLReference.Compute(student, teacher, rows, classes, temperature, labels);
        (double loss, float[] gradient) = Run(student, teacher, labels, rows, classes, temperature, layout);

        RowKernelRun.AssertMatches((loss, gradient), (expectedLoss, expectedGradient),
            Tolerance.SoftLossMagnitude(student, teacher, temperature), temperature, RowKernelRun.Counted(rows, labels),
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, labels {withLabels}, {layout}");
    }

    private (double Loss, float[] Gradient) Run(float[] student, float[] teacher, int[]? labels, int rows, int classes,
        double temperature, RowLayout layout)
    {
        var p = new ReverseKLRow(rows, classes, (float)temperature, labels is not null, -100,
            RowKernelRun.Counted(rows, labels));
        return RowKernelRun.Run(Device, Device.Kernels<RowLossLauncher<ReverseKLRow>>(), student, teacher, labels, p, layout);
    }
}
