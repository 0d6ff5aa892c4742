using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Tests.Generic;

/// <summary>The float64 reference of a two-sided row loss: loss and the gradients for student and teacher.</summary>
/// <remarks>The last argument is the kernel's student gradient, for the L1 distance's sign at near ties (see
/// <see cref="ProbabilityL1Reference.AtKernelSigns"/>); references without a kink ignore it.</remarks>
public delegate (double Loss, double[] StudentGradient, double[] TeacherGradient) TwoSidedReference(float[] student,
    float[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels, float[] kernelStudentGradient);

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
}
