using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The L1-between-probabilities kernels (student and teacher gradients in one launch), both layouts, straight through
/// the launcher, against the float64 reference. Where q and p are so near that float32 may take either sign of q - p
/// (the kink, where the gradient jumps) the reference takes the kernel's side (<see cref="ProbabilityL1Reference.AtKernelSigns"/>);
/// exact ties have their own test.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class ProbabilityL1KernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
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
        Check(4, temperature, scale, elementwise: true, withLabels: false, layout);

    [Test]
    public void PaddingRowsGetNoLossAndZeroGradients(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        Random random = RandomData.NewRandom();
        (float[] s, float[] t) = TwoSidedRowCheck.Logits(random, 4, 6, 3);
        var p = new ProbabilityL1Row(4, 6, 2f, RowReduction.ElementwiseMean, true, -100, 0);
        (double loss, float[] studentGradient, float[] teacherGradient) =
            TwoSidedRowCheck.Launch(Device, s, t, [-100, -100, -100, -100], p, layout);
        Assert.That(loss, Is.Zero);
        Assert.That(studentGradient, Is.All.Zero);
        Assert.That(teacherGradient, Is.All.Zero);
    }

    [Test]
    public void EqualDistributionsGiveZeroLossAndGradients(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // Identical logits: every q - p is exactly 0, and sign(0) = 0 makes both gradients exactly 0 (the float64
        // reference agrees), where a sign(0) of +-1 would not.
        Random random = RandomData.NewRandom();
        float[] logits = RandomData.Uniform(random, 5 * 7, 4);
        var p = new ProbabilityL1Row(5, 7, 1.5f, RowReduction.BatchMean, false, -100, 5);
        (double loss, float[] studentGradient, float[] teacherGradient) = TwoSidedRowCheck.Launch(Device, logits, logits, null, p, layout);
        Assert.That(loss, Is.Zero);
        Assert.That(studentGradient, Is.All.Zero);
        Assert.That(teacherGradient, Is.All.Zero);
    }

    [Test]
    public void DisjointOneHotRowsGiveTheLargestDistance(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // q and p one-hot on different classes: sum |q - p| = 2 per row, and every gradient entry is 0 (the
        // probabilities cannot move); with batchmean the loss is exactly 2.
        float[] student = [9000, -8000, 1000, -3000, 7000, 500];
        float[] teacher = [-4000, 6000, 1234, 8000, -777, 5];
        var p = new ProbabilityL1Row(2, 3, 0.5f, RowReduction.BatchMean, false, -100, 2);
        (double loss, float[] studentGradient, float[] teacherGradient) = TwoSidedRowCheck.Launch(Device, student, teacher, null, p, layout);
        Assert.That(loss, Is.EqualTo(2.0));
        Assert.That(studentGradient, Is.All.Zero);
        Assert.That(teacherGradient, Is.All.Zero);
    }

    private void Check(int shape, double temperature, double scale, bool elementwise, bool withLabels, RowLayout layout)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        (float[] student, float[] teacher) = TwoSidedRowCheck.Logits(random, rows, classes, scale);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        int counted = RowKernelRun.Counted(rows, labels);
        double divisor = TwoSidedRowCheck.Divisor(Math.Max(1, counted), classes, elementwise);

        var p = new ProbabilityL1Row(rows, classes, (float)temperature,
            elementwise ? RowReduction.ElementwiseMean : RowReduction.BatchMean, labels is not null, -100, counted);
        var actual = TwoSidedRowCheck.Launch(Device, student, teacher, labels, p, layout);
        var expected = ProbabilityL1Reference.AtKernelSigns(student, teacher, rows, classes, temperature, elementwise, labels,
            actual.StudentGradient);

        // Each row adds at most 2 (two probability vectors), so the loss's terms are of size 2 N / D.
        TwoSidedRowCheck.AssertMatches(actual, expected, 2 * Math.Max(1, counted) / divisor, 1 / (temperature * divisor),
            $"shape {rows}x{classes}, T {temperature}, scale {scale}, elementwise {elementwise}, labels {withLabels}, {layout}");
    }
}
