namespace GpuDistill.Methods;

/// <summary>
/// The continual-learning metrics of loss-spec-2 section 10.3 from an accuracy matrix a[k, j], the test accuracy on
/// task j after training on task k finishes (0-based here; the spec's formulas are 1-based).
/// </summary>
public static class ContinualMetrics
{
    /// <summary>Average accuracy after task k: A_k = (1/k) sum_{j &lt;= k} a[k, j] (<paramref name="k"/> 0-based).</summary>
    /// <param name="a">The accuracy matrix [T, T].</param>
    /// <param name="k">The task after which to average (0-based).</param>
    /// <returns>A_k.</returns>
    public static double AverageAccuracy(double[,] a, int k)
    {
        Check(a, k);
        double sum = 0;
        for (int j = 0; j <= k; j++) sum += a[k, j];
        return sum / (k + 1);
    }

    /// <summary>
    /// Forgetting after task k (Chaudhry et al. 2018): f_j = max_{l &lt; k} a[l, j] - a[k, j] for each j &lt; k, and
    /// F_k = their mean; 0 after the first task (nothing to forget yet). An entry that was not measured (NaN: a
    /// classifier that could not answer on a task before learning it) is left out of the max.
    /// </summary>
    /// <param name="a">The accuracy matrix [T, T].</param>
    /// <param name="k">The task after which to measure (0-based).</param>
    /// <returns>F_k.</returns>
    public static double Forgetting(double[,] a, int k)
    {
        Check(a, k);
        if (k == 0) return 0;
        double sum = 0;
        for (int j = 0; j < k; j++)
        {
            double best = double.NegativeInfinity;
            for (int l = 0; l < k; l++)
            {
                if (!double.IsNaN(a[l, j])) best = Math.Max(best, a[l, j]);
            }
            sum += best - a[k, j];
        }
        return sum / k;
    }

    /// <summary>Backward transfer (Lopez-Paz and Ranzato 2017): (1/(T-1)) sum_{j &lt; T-1} (a[T-1, j] - a[j, j]); negative
    /// means forgetting.</summary>
    /// <param name="a">The accuracy matrix [T, T], T &gt;= 2.</param>
    /// <returns>BWT.</returns>
    public static double BackwardTransfer(double[,] a)
    {
        int t = Size(a);
        RequireTwoTasks(t);
        double sum = 0;
        for (int j = 0; j < t - 1; j++) sum += a[t - 1, j] - a[j, j];
        return sum / (t - 1);
    }

    /// <summary>Forward transfer (same paper): (1/(T-1)) sum_{j &gt;= 1} (a[j-1, j] - b[j]), where b[j] is a randomly
    /// initialised model's accuracy on task j.</summary>
    /// <param name="a">The accuracy matrix [T, T], T &gt;= 2.</param>
    /// <param name="initial">b: the untrained model's accuracy on each task.</param>
    /// <returns>FWT.</returns>
    public static double ForwardTransfer(double[,] a, IReadOnlyList<double> initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        int t = Size(a);
        RequireTwoTasks(t);
        if (initial.Count != t)
            throw new ArgumentException($"initial needs one accuracy per task ({t}); got {initial.Count}.", nameof(initial));
        double sum = 0;
        for (int j = 1; j < t; j++) sum += a[j - 1, j] - initial[j];
        return sum / (t - 1);
    }

    private static void Check(double[,] a, int k)
    {
        int t = Size(a);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(k, t);
    }

    private static int Size(double[,] a)
    {
        ArgumentNullException.ThrowIfNull(a);
        if (a.GetLength(0) != a.GetLength(1) || a.GetLength(0) == 0)
            throw new ArgumentException($"The accuracy matrix must be square [T, T] with T >= 1; got [{a.GetLength(0)}, {a.GetLength(1)}].", nameof(a));
        return a.GetLength(0);
    }

    private static void RequireTwoTasks(int t)
    {
        if (t < 2) throw new ArgumentException($"Transfer needs two tasks at least; the matrix has {t}.", "a");
    }
}
