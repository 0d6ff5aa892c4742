using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The reverse-KL reference's gradient against central finite differences of its own loss.</summary>
public sealed class ReverseKLReferenceTests
{
    [TestCase(1, 1, 1.0, false)]
    [TestCase(3, 7, 0.5, false)]
    [TestCase(4, 5, 4.0, true)]
    [TestCase(5, 11, 20.0, true)]
    public void GradientMatchesFiniteDifferences(int rows, int classes, double temperature, bool withLabels)
    {
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        if (labels is not null) labels[0] = 0; // keep at least one counted row

        (_, double[] gradient) = ReverseKLReference.Compute(student, teacher, rows, classes, temperature, labels);
        FiniteDifferences.AssertGradient(
            s => ReverseKLReference.Compute(s, teacher, rows, classes, temperature, labels).Loss, student, gradient);
    }

    [Test]
    public void IsZeroForIdenticalDistributionsAndPositiveOtherwise()
    {
        Random random = RandomData.NewRandom();
        double[] a = ReferenceMath.ToDouble(RandomData.Uniform(random, 3 * 6, 4));
        double[] b = ReferenceMath.ToDouble(RandomData.Uniform(random, 3 * 6, 4));
        // Shifting a row by a constant leaves its softmax unchanged.
        double[] shifted = a.Select(v => v + 2.5).ToArray();
        Assert.Multiple(() =>
        {
            Assert.That(ReverseKLReference.Compute(a, shifted, 3, 6, 2.0).Loss, Is.EqualTo(0).Within(1e-12));
            Assert.That(ReverseKLReference.Compute(a, b, 3, 6, 2.0).Loss, Is.GreaterThan(0));
        });
    }
}
