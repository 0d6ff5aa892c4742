using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Kernels;

/// <summary>The kernels' scalar log-space functions against float64, on the host (they are plain C#).</summary>
public sealed class LogSpaceTests
{
    [Test]
    public void Expm1KeepsItsRelativeAccuracyFromTinyToLargeArguments()
    {
        Random random = RandomData.NewRandom();
        float[] fixedArguments = [0f, 1e-30f, -1e-30f, 1e-8f, -1e-8f, 3e-5f, -3e-5f, 0.01f, -0.5f, 1f, -20f, 60f];
        IEnumerable<float> randomArguments = Enumerable.Range(0, 200).Select(_ => (float)(Math.Pow(10, -8 + 8 * random.NextDouble()) * (random.Next(2) * 2 - 1)));
        foreach (float x in fixedArguments.Concat(randomArguments))
        {
            double expected = Expm1(x);
            float actual = LogSpace.Expm1(x);
            Assert.That(actual, Is.EqualTo(expected).Within(4e-7 * Math.Abs(expected) + 1e-45), $"expm1({x:R})");
        }
        Assert.That(LogSpace.Expm1(-200f), Is.EqualTo(-1f));
        Assert.That(LogSpace.Expm1(float.NaN), Is.NaN);
    }

    [Test]
    public void Log1PKeepsArgumentsFarBelowEpsilon()
    {
        foreach (float y in new[] { 0f, 1e-30f, 1e-9f, 3e-7f, 1e-3f, 0.5f, 7f, 1e10f })
        {
            double expected = y < 1e-6 ? y - (double)y * y / 2 : Math.Log(1 + (double)y);
            Assert.That(LogSpace.Log1P(y), Is.EqualTo(expected).Within(3e-7 * Math.Abs(expected) + 1e-45), $"log1p({y:R})");
        }
    }

    [Test]
    public void DivergenceShareFromLogRatioMatchesItsClosedFormWithoutCancelling()
    {
        // p (e^x - 1 - x): at |x| = 1e-4 the plain q - p - p x keeps none of its digits in float32.
        foreach (double x in new[] { 1e-6, -1e-4, 0.003, -0.2, 0.49, 0.51, -2.0, 5.0 })
        {
            const double p = 1e-6;
            double expected = p * (Expm1(x) - x);
            float actual = LogSpace.DivergenceTermFromLogRatio((float)p, (float)(p * Math.Exp(x)), (float)x);
            Assert.That(actual, Is.EqualTo(expected).Within(1e-5 * expected), $"x = {x}");
        }
    }

    /// <summary>e^x - 1 in float64, by its series where it would cancel.</summary>
    private static double Expm1(double x) =>
        Math.Abs(x) < 1e-5 ? x + x * x / 2 + x * x * x / 6 : Math.Exp(x) - 1;
}
