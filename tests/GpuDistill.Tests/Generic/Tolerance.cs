namespace GpuDistill.Tests.Generic;

/// <summary>Comparisons against float64 references.</summary>
public static class Tolerance
{
    /// <summary>Relative error of float32 kernel results against a float64 reference.</summary>
    public const double Kernel = 2e-5;

    /// <summary>|actual - expected| / max(|expected|, floor).</summary>
    public static double RelativeError(double actual, double expected, double floor = 1e-6) =>
        Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), floor);

    /// <summary>
    /// Loss comparison. A KL loss is a difference of log-sum-exps whose size is set by the logits; when it is tiny
    /// (teacher and student agree) float32 can only resolve it to about 1e-7 of that size, so the bound is relative
    /// error <see cref="Kernel"/> or an absolute 1e-6 of <paramref name="magnitude"/>, whichever is larger.
    /// </summary>
    /// <param name="magnitude">Size of the terms the loss is computed from, e.g. T^2 (1 + max|z| / T).</param>
    public static void AssertLoss(double actual, double expected, double magnitude)
    {
        double bound = Math.Max(Kernel * Math.Abs(expected), 1e-6 * magnitude);
        Assert.That(Math.Abs(actual - expected), Is.LessThanOrEqualTo(bound), $"loss {actual:R} vs reference {expected:R}");
    }

    /// <summary>The magnitude of the terms of a softened-softmax loss: T^2 (1 + max|z| / T) + (1 + max|z|).</summary>
    public static double SoftmaxLossMagnitude(float[] student, float[] teacher, double temperature)
    {
        double maxAbs = Math.Max(student.Max(Math.Abs), teacher.Max(Math.Abs));
        return temperature * temperature * (1 + maxAbs / temperature) + 1 + maxAbs;
    }

    /// <summary>max_i |a_i - e_i| / max_i |e_i|: the error of a vector relative to its own scale.</summary>
    public static double RelativeMaxError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), "lengths differ");
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!double.IsFinite(actual[i])) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / Math.Max(maxRef, 1e-30);
    }
}
