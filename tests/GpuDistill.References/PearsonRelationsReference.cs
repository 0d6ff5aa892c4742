namespace GpuDistill.References;

/// <summary>
/// Float64 reference of DIST (Huang et al. 2022): p = softmax(z / T) per row; L = T^2 (beta (1 - mean_i r(rows i)) +
/// gamma (1 - mean_c r(columns c))), r(a, b) = (a - mean a).(b - mean b) / (||a - mean a|| ||b - mean b|| + 1e-8); the
/// gradient chained by hand through the correlations, the centring and the softmax.
/// </summary>
public static class PearsonRelationsReference
{
    /// <summary>The reference code's epsilon.</summary>
    public const double Epsilon = 1e-8;

    /// <summary>Loss and d loss / d student logits (upstream gradient 1), from double logits [rows, classes].</summary>
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int rows, int classes,
        double temperature, double beta, double gamma)
    {
        double[] ps = Softmax(student, rows, classes, temperature), pt = Softmax(teacher, rows, classes, temperature);
        var dp = new double[ps.Length];
        double t2 = temperature * temperature, rowMean = 0, columnMean = 0;
        for (int i = 0; i < rows; i++)
        {
            long[] index = [.. Enumerable.Range(0, classes).Select(c => (long)i * classes + c)];
            rowMean += Correlate(ps, pt, index, -t2 * beta / rows, dp) / rows;
        }
        for (int c = 0; c < classes; c++)
        {
            long[] index = [.. Enumerable.Range(0, rows).Select(i => (long)i * classes + c)];
            columnMean += Correlate(ps, pt, index, -t2 * gamma / classes, dp) / classes;
        }
        double loss = t2 * (beta * (1 - rowMean) + gamma * (1 - columnMean));

        // Softmax backward per row: dz = (1 / T) p (dp - sum p dp).
        var gradient = new double[ps.Length];
        for (int i = 0; i < rows; i++)
        {
            long o = (long)i * classes;
            double dot = 0;
            for (int c = 0; c < classes; c++) dot += ps[o + c] * dp[o + c];
            for (int c = 0; c < classes; c++) gradient[o + c] = ps[o + c] * (dp[o + c] - dot) / temperature;
        }
        return (loss, gradient);
    }

    /// <summary>The loss alone, for finite differences.</summary>
    public static double Loss(double[] student, double[] teacher, int rows, int classes, double temperature, double beta, double gamma) =>
        Compute(student, teacher, rows, classes, temperature, beta, gamma).Loss;

    /// <summary>r of a[index] and b[index]; adds weight * d r / d a into <paramref name="da"/> at those places.</summary>
    private static double Correlate(double[] a, double[] b, long[] index, double weight, double[] da)
    {
        int n = index.Length;
        double ma = index.Average(k => a[k]), mb = index.Average(k => b[k]);
        double[] ca = [.. index.Select(k => a[k] - ma)], cb = [.. index.Select(k => b[k] - mb)];
        double dot = 0, na = 0, nb = 0;
        for (int k = 0; k < n; k++)
        {
            dot += ca[k] * cb[k];
            na += ca[k] * ca[k];
            nb += cb[k] * cb[k];
        }
        na = Math.Sqrt(na);
        nb = Math.Sqrt(nb);
        double d = na * nb + Epsilon, r = dot / d;
        // d r / d ca = cb / d - dot nb ca / (na d^2) (0 where na = 0); centring subtracts the mean of that.
        var g = new double[n];
        for (int k = 0; k < n; k++) g[k] = cb[k] / d - (na > 0 ? dot * nb * ca[k] / (na * d * d) : 0);
        double gMean = g.Average();
        for (int k = 0; k < n; k++) da[index[k]] += weight * (g[k] - gMean);
        return r;
    }

    /// <summary>softmax(z / T) of each row, from <see cref="ReferenceMath.LogSoftmax"/>.</summary>
    private static double[] Softmax(double[] z, int rows, int classes, double temperature) =>
        [.. Enumerable.Range(0, rows).SelectMany(i => ReferenceMath.LogSoftmax(z.AsSpan(i * classes, classes), temperature).Select(Math.Exp))];
}
