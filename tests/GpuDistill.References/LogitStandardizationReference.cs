namespace GpuDistill.References;

/// <summary>
/// Float64 reference of logit standardisation (Sun et al. 2024) and of KD on standardised logits, written from the
/// definitions: z = (v - mean v) / (std v + 1e-7), std with Bessel's correction, a one-class row mapped to 0;
/// L = T^2 / B sum_rows KL(softmax(z_t / T) || softmax(z_s / T)); the gradient chained by hand through the z-score.
/// </summary>
public static class LogitStandardizationReference
{
    /// <summary>The reference code's epsilon.</summary>
    public const double Epsilon = 1e-7;

    /// <summary>Row <paramref name="row"/> of <paramref name="logits"/> [rows, classes], standardised.</summary>
    public static double[] Standardize(float[] logits, int row, int classes)
    {
        var z = new double[classes];
        if (classes == 1) return z;
        (double mean, double std) = Moments(logits, row, classes);
        for (int c = 0; c < classes; c++) z[c] = (logits[(long)row * classes + c] - mean) / (std + Epsilon);
        return z;
    }

    /// <summary>KD on standardised logits: loss and d loss / d student logits (upstream gradient 1).</summary>
    public static (double Loss, double[] Gradient) StandardizedKL(float[] student, float[] teacher, int rows, int classes, double temperature)
    {
        var gradient = new double[(long)rows * classes];
        if (classes == 1) return (0, gradient);
        double loss = 0;
        for (int i = 0; i < rows; i++)
        {
            double[] zs = Standardize(student, i, classes), zt = Standardize(teacher, i, classes);
            double[] logQ = ReferenceMath.LogSoftmax(zs, temperature), logP = ReferenceMath.LogSoftmax(zt, temperature);
            var dz = new double[classes];
            double kl = 0;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(logP[c]);
                if (p > 0) kl += p * (logP[c] - logQ[c]);
                dz[c] = temperature / rows * (Math.Exp(logQ[c]) - p);
            }
            loss += temperature * temperature / rows * kl;

            // z_i = d_i / s, d = v - mean, s = std + eps, std = sqrt(sum d^2 / (C - 1)):
            // dL/dv_j = (g_j - mean g) / s - d_j (sum_i g_i d_i) / (s^2 (C - 1) std).
            (double mean, double std) = Moments(student, i, classes);
            double s = std + Epsilon, gMean = dz.Average(), gd = 0;
            var d = new double[classes];
            for (int c = 0; c < classes; c++)
            {
                d[c] = student[(long)i * classes + c] - mean;
                gd += dz[c] * d[c];
            }
            double coupling = std > 0 ? gd / (s * s * (classes - 1) * std) : 0;
            for (int c = 0; c < classes; c++) gradient[(long)i * classes + c] = (dz[c] - gMean) / s - d[c] * coupling;
        }
        return (loss, gradient);
    }

    private static (double Mean, double Std) Moments(float[] logits, int row, int classes)
    {
        long offset = (long)row * classes;
        double mean = 0;
        for (int c = 0; c < classes; c++) mean += logits[offset + c];
        mean /= classes;
        double squares = 0;
        for (int c = 0; c < classes; c++) squares += (logits[offset + c] - mean) * (logits[offset + c] - mean);
        return (mean, Math.Sqrt(squares / (classes - 1)));
    }
}
