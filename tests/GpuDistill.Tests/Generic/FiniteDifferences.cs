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
        for (int k = 0; k < x.Length; k++)
        {
            double numeric = Derivative(loss, x, k);
            Assert.That(gradient[k], Is.EqualTo(numeric).Within(1e-8 + 1e-6 * Math.Abs(numeric)), $"element {k}");
        }
    }

    /// <summary>d loss / d x_k at <paramref name="x"/> by the five-point central difference of <see cref="AssertGradient"/>.</summary>
    public static double Derivative(Func<double[], double> loss, double[] x, int k)
    {
        var moved = (double[])x.Clone();
        double At(double value)
        {
            moved[k] = value;
            return loss(moved);
        }
        double h = 1e-5 * Math.Max(1, Math.Abs(x[k]));
        return (8 * (At(x[k] + h) - At(x[k] - h)) - (At(x[k] + 2 * h) - At(x[k] - 2 * h))) / (12 * h);
    }
}
