namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// DIST (Huang et al. 2022) on the host, loss and gradient in one call: p = softmax(s / T), q = softmax(t / T) per
/// row; L = T^2 (w_inter (1 - mean over rows of r(p_i, q_i)) + w_intra (1 - mean over columns of r(p_:c, q_:c))), with
/// r(a, b) = (a - mean a).(b - mean b) / (||a - mean a|| ||b - mean b|| + 1e-8). Every pass reads the rows in order
/// (the columns' sums are kept per column), sums run in double, and the probabilities are kept in float scratch.
/// </summary>
/// <remarks>
/// Why a host path: at a classifier's shape ([128, 10]) the TorchSharp composite is a dozen libtorch calls of a few
/// microseconds of work each, which cost half a small MLP's training step (docs/perf/method-step.md); this is one call.
/// The gradient of r with respect to a (its centred copy x, the other's centred copy y, u = x.y, n = |x||y| + eps) is
/// y / n - (u / n^2) |y| x / |x| (the second term 0 where |x| = 0, as libtorch's norm gives); it already has zero mean,
/// so the centring passes it through unchanged; the softmax then gives dL/ds = p (dL/dp - p.dL/dp) / T per row.
/// </remarks>
public static class HostPearsonRelations
{
    /// <summary>The reference code's epsilon, added to the product of the two norms.</summary>
    public const double Epsilon = 1e-8;

    /// <summary>Computes the loss and writes d loss / d student into <paramref name="gradient"/>.</summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="gradient">Output d loss / d student, [B*C].</param>
    /// <param name="rows">B.</param>
    /// <param name="classes">C.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="interWeight">Weight of the rows' correlations (beta).</param>
    /// <param name="intraWeight">Weight of the columns' correlations (gamma).</param>
    /// <returns>The loss; NaN when a logit is NaN or infinite (the gradient is then not written).</returns>
    /// <exception cref="ArgumentException">When a length does not match B and C.</exception>
    public static double Run(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, Span<float> gradient, int rows,
        int classes, double temperature, double interWeight, double intraWeight)
    {
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "rows (B) must be positive.");
        if (classes <= 0) throw new ArgumentOutOfRangeException(nameof(classes), classes, "classes (C) must be positive.");
        long elements = (long)rows * classes;
        if (elements > Array.MaxLength)
            throw new ArgumentException($"B x C = {elements} is more than one host array holds ({Array.MaxLength}).", nameof(student));
        HostSimdRowLoss.RequireLength(student.Length, elements, nameof(student));
        HostSimdRowLoss.RequireLength(teacher.Length, elements, nameof(teacher));
        HostSimdRowLoss.RequireLength(gradient.Length, elements, nameof(gradient));

        var p = new float[elements];
        var q = new float[elements];
        if (!Softmax(student, p, rows, classes, temperature) || !Softmax(teacher, q, rows, classes, temperature))
            return double.NaN;
        double t2 = temperature * temperature;

        // Rows: r_i and its gradient, written into the gradient as dL/dp.
        double rowSum = 0, rowCoefficient = -t2 * interWeight / rows;
        for (int i = 0; i < rows; i++)
        {
            int o = i * classes;
            ReadOnlySpan<float> a = p.AsSpan(o, classes), b = q.AsSpan(o, classes);
            double meanA = Mean(a), meanB = Mean(b), u = 0, xx = 0, yy = 0;
            for (int c = 0; c < classes; c++)
            {
                double x = a[c] - meanA, y = b[c] - meanB;
                u += x * y;
                xx += x * x;
                yy += y * y;
            }
            (double r, double alongY, double alongX) = Correlation(u, xx, yy);
            rowSum += r;
            for (int c = 0; c < classes; c++)
                gradient[o + c] = (float)(rowCoefficient * (alongY * (b[c] - meanB) - alongX * (a[c] - meanA)));
        }

        // Columns: means, then products and norms, then each column's gradient added, all in row order.
        var meanP = new double[classes];
        var meanQ = new double[classes];
        for (int i = 0; i < rows; i++)
        {
            for (int c = 0; c < classes; c++)
            {
                meanP[c] += p[i * classes + c];
                meanQ[c] += q[i * classes + c];
            }
        }
        for (int c = 0; c < classes; c++)
        {
            meanP[c] /= rows;
            meanQ[c] /= rows;
        }
        var products = new double[classes];
        var squaresP = new double[classes];
        var squaresQ = new double[classes];
        for (int i = 0; i < rows; i++)
        {
            for (int c = 0; c < classes; c++)
            {
                double x = p[i * classes + c] - meanP[c], y = q[i * classes + c] - meanQ[c];
                products[c] += x * y;
                squaresP[c] += x * x;
                squaresQ[c] += y * y;
            }
        }
        double columnSum = 0, columnCoefficient = -t2 * intraWeight / classes;
        var alongYs = new double[classes];
        var alongXs = new double[classes];
        for (int c = 0; c < classes; c++)
        {
            (double r, double alongY, double alongX) = Correlation(products[c], squaresP[c], squaresQ[c]);
            columnSum += r;
            alongYs[c] = columnCoefficient * alongY;
            alongXs[c] = columnCoefficient * alongX;
        }

        // Add the columns' share, then the softmax backward per row: dL/ds = p (dL/dp - p.dL/dp) / T.
        for (int i = 0; i < rows; i++)
        {
            int o = i * classes;
            double dot = 0;
            for (int c = 0; c < classes; c++)
            {
                gradient[o + c] = (float)(gradient[o + c] + alongYs[c] * (q[o + c] - meanQ[c]) - alongXs[c] * (p[o + c] - meanP[c]));
                // The stored (rounded) value, so a one-hot p gives exactly 0 where the gradient is p (dp - p.dp).
                dot += p[o + c] * (double)gradient[o + c];
            }
            for (int c = 0; c < classes; c++)
                gradient[o + c] = (float)(p[o + c] * (gradient[o + c] - dot) / temperature);
        }
        return t2 * (interWeight * (1 - rowSum / rows) + intraWeight * (1 - columnSum / classes));
    }

    /// <summary>r = u / n and the two factors of its gradient, dr/dx = alongY y - alongX x.</summary>
    private static (double R, double AlongY, double AlongX) Correlation(double u, double xx, double yy)
    {
        double nx = Math.Sqrt(xx), ny = Math.Sqrt(yy), n = nx * ny + Epsilon;
        return (u / n, 1 / n, nx > 0 ? u / (n * n) * ny / nx : 0);
    }

    private static double Mean(ReadOnlySpan<float> values)
    {
        double sum = 0;
        foreach (float v in values) sum += v;
        return sum / values.Length;
    }

    /// <summary>Row softmax of z / T into <paramref name="probabilities"/>; false when a logit is not finite.</summary>
    private static bool Softmax(ReadOnlySpan<float> logits, float[] probabilities, int rows, int classes, double temperature)
    {
        for (int i = 0; i < rows; i++)
        {
            ReadOnlySpan<float> z = logits.Slice(i * classes, classes);
            float max = float.NegativeInfinity;
            foreach (float v in z)
            {
                if (!float.IsFinite(v)) return false;
                if (v > max) max = v;
            }
            double sum = 0;
            for (int c = 0; c < classes; c++)
            {
                double e = Math.Exp((z[c] - (double)max) / temperature);
                probabilities[i * classes + c] = (float)e;
                sum += e;
            }
            for (int c = 0; c < classes; c++) probabilities[i * classes + c] = (float)(probabilities[i * classes + c] / sum);
        }
        return true;
    }
}
