using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Tests.Generic;

/// <summary>The float64 reference of a two-sided row loss: loss and the gradients for student and teacher.</summary>
public delegate (double Loss, double[] StudentGradient, double[] TeacherGradient) TwoSidedReference(float[] student,
    float[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels);

/// <summary>Launches and checks of the two-sided row losses (both gradients), shared by their kernel and bridge tests.</summary>
public static class TwoSidedRowCheck
{
    /// <summary>One launch straight through the launcher: the loss and both gradients.</summary>
    public static (double Loss, float[] StudentGradient, float[] TeacherGradient) Launch<TLoss>(ComputeDevice device,
        float[] student, float[] teacher, int[]? labels, TLoss loss, RowLayout layout) where TLoss : unmanaged, IRowLoss
    {
        RowLossLauncher<TLoss> launcher = device.Kernels<RowLossLauncher<TLoss>>();
        return KernelLaunches.RunTwoSidedRows(device, student, teacher, labels, loss.Rows,
            (s, t, l, g, tg, r) => launcher.Launch(s, t, l, g, tg, r, loss, layout));
    }

    /// <summary>D, what the summed rows are divided by.</summary>
    public static double Divisor(int counted, int classes, bool elementwiseMean) =>
        elementwiseMean ? (double)counted * classes : counted;

    /// <summary>
    /// Asserts the loss within <see cref="Tolerance.LossBound"/> of <paramref name="magnitude"/> and each gradient
    /// within <see cref="Tolerance.Kernel"/> of its largest entry, or of 1e-2 of the natural scale 1 / (T D) where rows
    /// saturate (<see cref="Tolerance.GradientFloor"/>).
    /// </summary>
    public static void AssertMatches((double Loss, float[] Student, float[] Teacher) actual,
        (double Loss, double[] Student, double[] Teacher) expected, double magnitude, double naturalScale, string what) =>
        Assert.Multiple(() =>
        {
            Assert.That(actual.Loss, Is.EqualTo(expected.Loss).Within(Tolerance.LossBound(expected.Loss, magnitude)), $"loss, {what}");
            double floor = Tolerance.GradientFloor(naturalScale);
            Assert.That(Tolerance.RelativeMaxError(actual.Student, expected.Student, floor), Is.LessThan(Tolerance.Kernel), $"student gradient, {what}");
            Assert.That(Tolerance.RelativeMaxError(actual.Teacher, expected.Teacher, floor), Is.LessThan(Tolerance.Kernel), $"teacher gradient, {what}");
        });

    /// <summary>
    /// Student and teacher logits uniform in [-scale, scale], drawn again (at most 100 times) while
    /// <paramref name="acceptable"/> refuses them.
    /// </summary>
    public static (float[] Student, float[] Teacher) Logits(Random random, int rows, int classes, double scale,
        Func<float[], float[], bool>? acceptable = null)
    {
        for (int attempt = 0; attempt < 100; attempt++)
        {
            float[] s = RandomData.Uniform(random, (long)rows * classes, scale);
            float[] t = RandomData.Uniform(random, (long)rows * classes, scale);
            if (acceptable is null || acceptable(s, t)) return (s, t);
        }
        throw new InvalidOperationException("No acceptable logits in 100 draws.");
    }

    /// <summary>
    /// For the L1 distance: whether no column is so near a tie of q and p that float32 may take the other sign of
    /// q - p there while that moves the gradient beyond the tolerance. Flipping s_j moves d/dz_s by q (e_j - q_j) Δs,
    /// at most q_j (1 - q_j) |Δs| (likewise p for the teacher), so a tie matters only where q_j (1 - q_j) or
    /// p_j (1 - p_j) exceeds 1e-8 (the check allows 2e-7 of the natural scale). A float32 log-probability is good to
    /// about 6e-8 (1 + 2 max|z| / T) absolute; four times that is "near".
    /// </summary>
    public static bool NoSignificantTie(float[] student, float[] teacher, int rows, int classes, double temperature)
    {
        double maxAbs = Math.Max(student.Max(Math.Abs), teacher.Max(Math.Abs));
        double resolution = 4 * 6e-8 * (1 + 2 * maxAbs / temperature);
        for (int i = 0; i < rows; i++)
        {
            int offset = i * classes;
            double[] q = ProbabilityL1Reference.Probabilities(ReferenceMath.ToDouble(student[offset..(offset + classes)]), temperature);
            double[] p = ProbabilityL1Reference.Probabilities(ReferenceMath.ToDouble(teacher[offset..(offset + classes)]), temperature);
            for (int c = 0; c < classes; c++)
            {
                double weight = Math.Max(q[c] * (1 - q[c]), p[c] * (1 - p[c]));
                if (weight > 1e-8 && Math.Abs(q[c] - p[c]) <= resolution * Math.Max(q[c], p[c])) return false;
            }
        }
        return true;
    }
}
