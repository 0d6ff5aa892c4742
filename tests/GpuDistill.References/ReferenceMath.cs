namespace GpuDistill.References;

/// <summary>Float64 building blocks of the references, written plainly from the definitions (loss-spec 0).</summary>
public static class ReferenceMath
{
    /// <summary>log softmax(z / T) of one row: z / T - lse(z / T), with lse = m + log sum exp(v - m).</summary>
    public static double[] LogSoftmax(ReadOnlySpan<double> logits, double temperature)
    {
        var u = new double[logits.Length];
        for (int c = 0; c < u.Length; c++) u[c] = logits[c] / temperature;
        double lse = LogSumExp(u);
        for (int c = 0; c < u.Length; c++) u[c] -= lse;
        return u;
    }

    /// <summary>lse(v) = m + log(sum exp(v - m)); -inf for no values.</summary>
    public static double LogSumExp(IEnumerable<double> values)
    {
        double[] v = values as double[] ?? values.ToArray();
        if (v.Length == 0) return double.NegativeInfinity;
        double max = v.Max();
        // Neumaier's compensated sum: a row of a million terms keeps the float64 reference to ~1e-16, where a running
        // sum erred by ~1e-13, the size of the tiniest losses the float32 kernels are held to.
        double sum = 0, compensation = 0;
        foreach (double x in v)
        {
            double term = Math.Exp(x - max), next = sum + term;
            compensation += Math.Abs(sum) >= Math.Abs(term) ? (sum - next) + term : (term - next) + sum;
            sum = next;
        }
        return max + Math.Log(sum + compensation);
    }

    /// <summary>log(exp(a) + exp(b)).</summary>
    public static double LogAddExp(double a, double b) => LogSumExp([a, b]);

    /// <summary>Rows that count: all of them without labels, otherwise those whose label is not the ignore index.</summary>
    public static int Counted(int rows, int[]? labels, int ignoreIndex) =>
        labels is null ? rows : labels.Count(y => y != ignoreIndex);

    /// <summary>Widens float32 test data to float64.</summary>
    public static double[] ToDouble(float[] values) => Array.ConvertAll(values, v => (double)v);
}
