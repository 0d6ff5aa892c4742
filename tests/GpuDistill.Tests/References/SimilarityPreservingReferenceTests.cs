using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The SP reference's gradient is checked by central finite differences, so the kernel tests rest on it.</summary>
public sealed class SimilarityPreservingReferenceTests
{
    [TestCase(1, 3, 2)]
    [TestCase(3, 4, 7)]
    [TestCase(5, 6, 3)]
    public void GradientMatchesFiniteDifferences(int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * studentWidth, 1));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * teacherWidth, 1));
        (_, double[] gradient) = SimilarityPreservingReference.Compute(s, t, batch, studentWidth, teacherWidth);
        FiniteDifferences.AssertGradient(x => SimilarityPreservingReference.Compute(x, t, batch, studentWidth, teacherWidth).Loss,
            s, gradient);
    }

    [Test]
    public void IdenticalRelationsGiveZero()
    {
        // The same features scaled: the normalised Gram rows agree, so loss and gradient vanish.
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, 4 * 3, 1));
        double[] t = s.Select(v => 3 * v).ToArray();
        (double loss, double[] gradient) = SimilarityPreservingReference.Compute(s, t, 4, 3, 3);
        Assert.That(loss, Is.LessThan(1e-28));
        Assert.That(gradient.Max(Math.Abs), Is.LessThan(1e-14));
    }
}
