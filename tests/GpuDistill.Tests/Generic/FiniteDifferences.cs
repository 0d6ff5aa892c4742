namespace GpuDistill.Tests.Generic;

/// <summary>Central finite differences in float64, to check an analytic gradient against its own loss.</summary>
public static class FiniteDifferences
{
    /// <summary>
    /// Asserts that <paramref name="gradient"/> is d loss / d x at <paramref name="x"/>, element by element, with
    /// step 1e-5 max(1, |x_k|) (truncation error ~1e-10, rounding ~1e-11 for losses of order 1).
    /// </summary>
    public static void AssertGradient(Func<double[], double> loss, double[] x, double[] gradient)
    {
        Assert.That(gradient, Has.Length.EqualTo(x.Length));
        var moved = (double[])x.Clone();
        for (int k = 0; k < x.Length; k++)
        {
            double h = 1e-5 * Math.Max(1, Math.Abs(x[k]));
            moved[k] = x[k] + h;
            double up = loss(moved);
            moved[k] = x[k] - h;
            double down = loss(moved);
            moved[k] = x[k];
            double numeric = (up - down) / (2 * h);
            Assert.That(gradient[k], Is.EqualTo(numeric).Within(1e-8 + 1e-6 * Math.Abs(numeric)), $"element {k}");
        }
    }
}
