using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>The fused KL kernels, both layouts, straight through the launcher, against the float64 reference.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class SoftmaxKLKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    [Test, Combinatorial]
    public void MatchesReference(
        [Range(0, 4)] int shape,
        [Values(0.5, 1.0, 4.0, 20.0)] double temperature,
        [Values] LabelMode labelMode,
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(5.0, 1e4)] double scale)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teacher = RandomData.Uniform(random, (long)rows * classes, scale);
        int[]? labels = RandomData.Labels(random, rows, classes, labelMode);
        const double softWeight = 0.9, hardWeight = 0.1;

        (double expectedLoss, double[] expectedGradient) =
            SoftmaxKLReference.Compute(student, teacher, rows, classes, temperature, labels, softWeight, hardWeight);
        (double loss, float[] gradient) = Run(student, teacher, labels, rows, classes, temperature, softWeight, hardWeight, layout);

        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss, expectedLoss, Tolerance.SoftmaxLossMagnitude(student, teacher, temperature));
            // Gradient entries are softWeight T / N times q - p (plus hardWeight / N times CE terms); rows saturated
            // to one-hot leave only float32-resolution differences of probabilities (see Tolerance.GradientFloor).
            int counted = labels is null ? rows : labels.Count(y => y != -100);
            double naturalScale = Math.Max(softWeight * temperature, labels is null ? 0 : hardWeight) / Math.Max(1, counted);
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient, Tolerance.GradientFloor(naturalScale)),
                Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    [Test]
    public void IgnoredRowsGetNoLossAndZeroGradient([Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertPaddingGivesNothing((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 2.0, 1.0, 1.0, layout));

    [Test]
    public void LabelOutOfRangeGivesNaNRowLossNotACrash([Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout) =>
        RowKernelRun.AssertBadLabelGivesNaN((s, t, y, rows, classes) => Run(s, t, y, rows, classes, 1.0, 1.0, 1.0, layout));

    [Test]
    public void LaunchRejectsViewsOfTheWrongLength()
    {
        RowLossLauncher<SoftmaxKLRow> launcher = Device.Kernels<RowLossLauncher<SoftmaxKLRow>>();
        using var student = Device.Accelerator.Allocate1D<float>(6);
        using var teacher = Device.Accelerator.Allocate1D<float>(5);
        using var gradient = Device.Accelerator.Allocate1D<float>(6);
        using var rowLoss = Device.Accelerator.Allocate1D<float>(2);
        var p = new SoftmaxKLRow(2, 3, 1f, 1f, 0f, false, -100, 2);
        var ex = Assert.Throws<ArgumentException>(() =>
            launcher.Launch(student.View, teacher.View, default, gradient.View, rowLoss.View, p));
        Assert.That(ex!.ParamName, Is.EqualTo("teacher"));
    }

    private (double Loss, float[] Gradient) Run(float[] student, float[] teacher, int[]? labels, int rows, int classes,
        double temperature, double softWeight, double hardWeight, RowLayout layout)
    {
        var p = new SoftmaxKLRow(rows, classes, (float)temperature, (float)softWeight, (float)hardWeight,
            labels is not null, -100, RowKernelRun.Counted(rows, labels));
        return KernelLaunches.RunRows(Device, student, teacher, labels, rows,
            (s, t, l, g, r) => Device.Kernels<RowLossLauncher<SoftmaxKLRow>>().Launch(s, t, l, g, r, p, layout));
    }
}
