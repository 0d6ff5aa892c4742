using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>Both CC references' gradients are checked by central finite differences.</summary>
public sealed class CorrelationCongruenceReferenceTests
{
    [TestCase(2, 3)]
    [TestCase(5, 4)]
    public void RepDistillerGradientMatchesFiniteDifferences(int batch, int width)
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * width, 1));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * width, 1));
        (_, double[] gradient) = CorrelationCongruenceReference.RepDistiller(s, t, batch, width);
        FiniteDifferences.AssertGradient(x => CorrelationCongruenceReference.RepDistiller(x, t, batch, width).Loss, s, gradient);
    }

    [TestCase(1, 3, 2, false, 0.4, 2)]
    [TestCase(4, 3, 5, false, 0.4, 2)]
    [TestCase(4, 3, 5, true, 0.4, 2)]
    [TestCase(6, 4, 2, true, 0.7, 3)]
    public void KernelGradientMatchesFiniteDifferences(int batch, int studentWidth, int teacherWidth, bool gaussian,
        double gamma, int order)
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * studentWidth, 1));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * teacherWidth, 1));
        (_, double[] gradient) = CorrelationCongruenceReference.Kernel(s, t, batch, studentWidth, teacherWidth, gaussian, gamma, order);
        FiniteDifferences.AssertGradient(x => CorrelationCongruenceReference.Kernel(x, t, batch, studentWidth, teacherWidth,
            gaussian, gamma, order).Loss, s, gradient);
    }

    [Test]
    public void GaussianSeriesMatchesItsClosedFormTerms()
    {
        // P = 2 written out: exp(-2 gamma) (1 + 2 gamma g + 2 gamma^2 g^2).
        double g = 0.37, gamma = 0.4;
        double expected = Math.Exp(-2 * gamma) * (1 + 2 * gamma * g + 2 * gamma * gamma * g * g);
        Assert.That(CorrelationCongruenceReference.Correlation(g, true, gamma, 2), Is.EqualTo(expected).Within(1e-15));
    }
}
