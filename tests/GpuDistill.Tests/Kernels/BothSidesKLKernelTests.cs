using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using ILGPU.Runtime;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The two-sided forward KL kernels (student and teacher gradients in one launch), both layouts, straight through the
/// launcher, against the float64 reference; and the launcher's rules for the teacher-gradient view. Row per thread runs
/// every combination, row per group NUnit's pairwise set (the CPU accelerator simulates its barriers slowly).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class BothSidesKLKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test, Combinatorial]
    public void RowPerThreadMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0)] double temperature)
    {
        foreach (double scale in new[] { 5.0, 1e4 })
        foreach (bool elementwise in new[] { false, true })
        foreach (bool withLabels in new[] { false, true })
            Check(shape, temperature, scale, elementwise, withLabels, RowLayout.RowPerThread);
    }

    [Test, Pairwise]
    public void RowPerGroupMatchesReference(
        [Range(0, 3)] int shape,
        [Values(0.5, 1.0, 4.0)] double temperature,
        [Values(5.0, 1e4)] double scale,
        [Values] bool elementwise,
        [Values] bool withLabels) =>
        Check(shape, temperature, scale, elementwise, withLabels, RowLayout.RowPerGroup);

    [Test, Pairwise]
    public void LongRowsMatchReference(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(0.5, 4.0)] double temperature,
        [Values(5.0, 1e4)] double scale) =>
        Check(4, temperature, scale, elementwise: false, withLabels: false, layout);

    [Test]
    public void PaddingRowsGetNoLossAndZeroGradients(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        Random random = RandomData.NewRandom();
        (float[] s, float[] t) = TwoSidedRowCheck.Logits(random, 4, 6, 3);
        var p = new BothSidesKLRow(4, 6, 2f, RowReduction.BatchMean, true, -100, 0);
        (double loss, float[] studentGradient, float[] teacherGradient) =
            TwoSidedRowCheck.Launch(Device, s, t, [-100, -100, -100, -100], p, layout);
        Assert.That(loss, Is.Zero);
        Assert.That(studentGradient, Is.All.Zero);
        Assert.That(teacherGradient, Is.All.Zero);
    }

    [Test]
    public void OneHotTeacherGivesExactlyZeroTeacherGradient(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // p is one-hot in float32 and float64 alike, so d/dz_t = p (log p - log q - KL) is 0: the kernel, centred on the
        // teacher's argmax, must cancel exactly rather than leave the rounding of logits this size.
        float[] student = [9000, -8000, 1000, -3000, 7000, 500];
        float[] teacher = [-4000, 6000, 1234, 8000, -777, 5];
        var p = new BothSidesKLRow(2, 3, 0.5f, RowReduction.BatchMean, false, -100, 2);
        var actual = TwoSidedRowCheck.Launch(Device, student, teacher, null, p, layout);
        var expected = BothSidesKLReference.Compute(student, teacher, 2, 3, 0.5, elementwiseMean: false);
        Assert.That(actual.TeacherGradient, Is.All.Zero);
        TwoSidedRowCheck.AssertMatches(actual, expected, Tolerance.SoftLossMagnitude(student, teacher, 0.5), 1.0, "one-hot rows");
    }

    [Test]
    public void TwoSidedLossNeedsATeacherGradientView()
    {
        var p = new BothSidesKLRow(2, 3, 1f, RowReduction.BatchMean, false, -100, 2);
        RowLossLauncher<BothSidesKLRow> launcher = Device.Kernels<RowLossLauncher<BothSidesKLRow>>();
        Accelerator accelerator = Device.Accelerator;
        using var logits = accelerator.Allocate1D<float>(6);
        using var rowLoss = accelerator.Allocate1D<float>(2);
        ArgumentAssert.Rejects(() => launcher.Launch(logits.View, logits.View, default, logits.View, rowLoss.View, p),
            "teacherGradient", "expected 6");
    }

    [Test]
    public void OneSidedLossRefusesATeacherGradientView()
    {
        var p = new SoftmaxKLRow(2, 3, 1f, 1f, 0f, false, -100, 2);
        RowLossLauncher<SoftmaxKLRow> launcher = Device.Kernels<RowLossLauncher<SoftmaxKLRow>>();
        Accelerator accelerator = Device.Accelerator;
        using var logits = accelerator.Allocate1D<float>(6);
        using var teacherGradient = accelerator.Allocate1D<float>(6);
        using var rowLoss = accelerator.Allocate1D<float>(2);
        ArgumentAssert.Rejects(() => launcher.Launch(logits.View, logits.View, default, logits.View, teacherGradient.View,
            rowLoss.View, p), "teacherGradient", "writes no teacher gradient");
    }

    private void Check(int shape, double temperature, double scale, bool elementwise, bool withLabels, RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        (float[] student, float[] teacher) = TwoSidedRowCheck.Logits(random, rows, classes, scale);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        int counted = RowKernelRun.Counted(rows, labels);
        double divisor = TwoSidedRowCheck.Divisor(Math.Max(1, counted), classes, elementwise);

        var p = new BothSidesKLRow(rows, classes, (float)temperature,
            elementwise ? RowReduction.ElementwiseMean : RowReduction.BatchMean, labels is not null, -100, counted);
        var actual = TwoSidedRowCheck.Launch(Device, student, teacher, labels, p, layout);
        var expected = BothSidesKLReference.Compute(student, teacher, rows, classes, temperature, elementwise, labels);

        // The loss is sum KL / D: its terms are log-ratios of size max|z| / T on N / D of a row each.
        double magnitude = Tolerance.SoftLossMagnitude(student, teacher, temperature, Math.Max(1, counted) / (divisor * temperature * temperature));
        TwoSidedRowCheck.AssertMatches(actual, expected, magnitude, 1 / (temperature * divisor),
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, elementwise {elementwise}, labels {withLabels}, {layout}");
    }
}
