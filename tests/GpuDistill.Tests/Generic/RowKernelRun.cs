using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Tests.Generic;

/// <summary>Runs a fused row-loss kernel straight through its launcher on test arrays.</summary>
public static class RowKernelRun
{
    /// <summary>The row-loss test shapes (B, C): one element, a tiny batch, an odd wide one, a typical one, long rows.</summary>
    public static readonly (int Rows, int Classes)[] Shapes = [(1, 1), (2, 3), (41, 1271), (256, 10), (3, 100003)];

    /// <summary>The loss (row losses summed in float64) and the gradient of one launch.</summary>
    public static (double Loss, float[] Gradient) Run<TParameters>(ComputeDevice device,
        RowLossLauncher<TParameters> launcher, float[] student, float[] teacher, int[]? labels, TParameters p,
        RowLayout layout) where TParameters : unmanaged, IRowLoss
    {
        return KernelLaunches.RunRows(device, student, teacher, labels, p.Rows,
            (s, t, l, g, r) => launcher.Launch(s, t, l, g, r, p, layout));
    }

    /// <summary>One launch of a row loss on given logits and labels [B] (or null), B and C.</summary>
    public delegate (double Loss, float[] Gradient) Launch(float[] student, float[] teacher, int[]? labels, int rows, int classes);

    /// <summary>
    /// Asserts a launch against the float64 reference: the loss within <see cref="Tolerance.LossBound"/> of the
    /// size of its terms, the gradient within <see cref="Tolerance.Kernel"/> of its largest entry or, where rows
    /// saturate, of 1e-2 of its natural scale (<paramref name="gradientScale"/> over the counted rows).
    /// </summary>
    /// <param name="magnitude">The size of the loss's terms (see <see cref="Tolerance.SoftLossMagnitude"/>).</param>
    /// <param name="gradientScale">w T for a divergence of weight w at temperature T (times the counted rows' share).</param>
    public static void AssertMatches((double Loss, float[] Gradient) actual, (double Loss, double[] Gradient) expected,
        double magnitude, double gradientScale, int counted, string what) =>
        Assert.Multiple(() =>
        {
            Assert.That(actual.Loss, Is.EqualTo(expected.Loss).Within(Tolerance.LossBound(expected.Loss, magnitude)), $"loss, {what}");
            Assert.That(Tolerance.RelativeMaxError(actual.Gradient, expected.Gradient,
                Tolerance.GradientFloor(gradientScale / Math.Max(1, counted))), Is.LessThan(Tolerance.Kernel), $"gradient, {what}");
        });

    /// <summary>A batch whose rows are all padding (label -100) gets a loss of 0 and a zero gradient.</summary>
    public static void AssertPaddingGivesNothing(Launch launch)
    {
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, 4 * 6, 3);
        float[] teacher = RandomData.Uniform(random, 4 * 6, 3);
        (double loss, float[] gradient) = launch(student, teacher, [-100, -100, -100, -100], 4, 6);
        Assert.That(loss, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    /// <summary>
    /// A label out of range gives a NaN row loss, not an out-of-bounds read: the bridge rejects such labels before
    /// launching, and the kernel must still not crash.
    /// </summary>
    public static void AssertBadLabelGivesNaN(Launch launch)
    {
        float[] logits = [1, 2, 3, 4, 5, 6];
        (double loss, _) = launch(logits, logits, [0, 7], 2, 3);
        Assert.That(loss, Is.NaN);
    }

    /// <summary>The row count N the kernels divide by.</summary>
    public static int Counted(int rows, int[]? labels) => labels is null ? rows : labels.Count(y => y != -100);
}
