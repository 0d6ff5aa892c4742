using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The two-sided references' gradients (student and teacher) against central finite differences of their own loss;
/// the L1 distance's inputs are drawn away from ties, where it has no derivative.
/// </summary>
public sealed class TwoSidedReferenceTests
{
    [TestCase(1, 1, 1.0, false, false)]
    [TestCase(3, 7, 0.5, false, false)]
    [TestCase(4, 5, 4.0, true, true)]
    [TestCase(5, 11, 20.0, true, false)]
    public void KLGradientsMatchFiniteDifferences(int rows, int classes, double temperature, bool elementwise, bool withLabels) =>
        CheckBoth(BothSidesKLReference.Compute, rows, classes, temperature, elementwise, withLabels);

    [TestCase(1, 1, 1.0, false, false)]
    [TestCase(3, 7, 0.5, false, false)]
    [TestCase(4, 5, 4.0, true, true)]
    [TestCase(5, 11, 20.0, true, false)]
    public void L1GradientsMatchFiniteDifferences(int rows, int classes, double temperature, bool elementwise, bool withLabels) =>
        CheckBoth(ProbabilityL1Reference.Compute, rows, classes, temperature, elementwise, withLabels);

    [Test]
    public void KLIsZeroForIdenticalDistributionsAndPositiveOtherwise()
    {
        Random random = RandomData.NewRandom();
        double[] a = ReferenceMath.ToDouble(RandomData.Uniform(random, 3 * 6, 4));
        double[] b = ReferenceMath.ToDouble(RandomData.Uniform(random, 3 * 6, 4));
        // Shifting a row by a constant leaves its softmax unchanged.
        double[] shifted = a.Select(v => v + 2.5).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(BothSidesKLReference.Compute(a, shifted, 3, 6, 2.0, false).Loss, Is.EqualTo(0).Within(1e-12));
            Assert.That(BothSidesKLReference.Compute(a, b, 3, 6, 2.0, false).Loss, Is.GreaterThan(0));
        });
    }

    [Test]
    public void KLMatchesTheOneSidedForwardKLWithoutItsTSquared()
    {
        // The student half of the two-sided KL is Hinton's KD (loss-spec 1.1) divided by T^2.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 4 * 6, 3);
        float[] t = RandomData.Uniform(random, 4 * 6, 3);
        var both = BothSidesKLReference.Compute(s, t, 4, 6, 3.0, false);
        var hinton = SoftmaxKLReference.Compute(s, t, 4, 6, 3.0);
        Assert.That(both.Loss, Is.EqualTo(hinton.Loss / 9).Within(1e-12));
        Assert.That(both.StudentGradient, Is.EqualTo(hinton.Gradient.Select(g => g / 9)).Within(1e-12));
    }

    private static void CheckBoth(TwoSidedReferenceOnDoubles reference, int rows, int classes, double temperature,
        bool elementwise, bool withLabels)
    {
        Random random = RandomData.NewRandom();
        (float[] s32, float[] t32) = TwoSidedRowCheck.Logits(random, rows, classes, 3,
            (s, t) => FarFromTies(s, t, rows, classes, temperature));
        double[] student = ReferenceMath.ToDouble(s32);
        double[] teacher = ReferenceMath.ToDouble(t32);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        if (labels is not null) labels[0] = 0; // keep at least one counted row

        var result = reference(student, teacher, rows, classes, temperature, elementwise, labels, -100);
        FiniteDifferences.AssertGradient(
            s => reference(s, teacher, rows, classes, temperature, elementwise, labels, -100).Loss, student, result.StudentGradient);
        FiniteDifferences.AssertGradient(
            t => reference(student, t, rows, classes, temperature, elementwise, labels, -100).Loss, teacher, result.TeacherGradient);
    }

    /// <summary>
    /// No |q - p| within 2e-4 of a tie: the finite differences' reach (2h, h up to 3e-5 on a logit) moves q by at most
    /// 6e-5 q / T (1.2e-4 q at T = 0.5), less, so they never cross one. (1e-3 refused nearly every draw at T = 20, where all q are near 1/C.)
    /// </summary>
    private static bool FarFromTies(float[] s, float[] t, int rows, int classes, double temperature)
    {
        for (int i = 0; i < rows; i++)
        {
            double[] q = ProbabilityL1Reference.Probabilities(ReferenceMath.ToDouble(s[(i * classes)..((i + 1) * classes)]), temperature);
            double[] p = ProbabilityL1Reference.Probabilities(ReferenceMath.ToDouble(t[(i * classes)..((i + 1) * classes)]), temperature);
            for (int c = 0; c < classes; c++)
            {
                if (classes > 1 && Math.Abs(q[c] - p[c]) < 2e-4) return false;
            }
        }
        return true;
    }

    private delegate (double Loss, double[] StudentGradient, double[] TeacherGradient) TwoSidedReferenceOnDoubles(
        double[] student, double[] teacher, int rows, int classes, double temperature, bool elementwiseMean,
        int[]? labels, int ignoreIndex);
}
