namespace GpuDistill.Tests.Generic;

/// <summary>Central finite differences in float64, to check an analytic gradient against its own loss.</summary>
public static class FiniteDifferences
{
    /// <summary>
    /// Asserts that <paramref name="gradient"/> is d loss / d x at <paramref name="x"/>, element by element, by the
    /// five-point central difference with step h = 1e-5 max(1, |x_k|): its truncation error goes as (h / r)^4, r the
    /// length over which the loss bends (a feature row's norm, for losses that normalise rows), so rows of small norm
    /// stay exact (the three-point formula missed by 1.6e-6 relative on a PKT row of norm ~0.1, seed 512369399);
    /// rounding ~1e-11 for losses of order 1.
    /// </summary>
    public static void AssertGradient(Func<double[], double> loss, double[] x, double[] gradient)
    {
        Assert.That(gradient, Has.Length.EqualTo(x.Length));
        var moved = (double[])x.Clone();
        double At(int k, double value)
        {
            moved[k] = value;
            double result = loss(moved);
            moved[k] = x[k];
            return result;
        }
        for (int k = 0; k < x.Length; k++)
        {
            double h = 1e-5 * Math.Max(1, Math.Abs(x[k]));
            double numeric = (8 * (At(k, x[k] + h) - At(k, x[k] - h)) - (At(k, x[k] + 2 * h) - At(k, x[k] - 2 * h))) / (12 * h);
            Assert.That(gradient[k], Is.EqualTo(numeric).Within(1e-8 + 1e-6 * Math.Abs(numeric)), $"element {k}");
        }
    }
}
