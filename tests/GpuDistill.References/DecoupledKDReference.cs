using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of DKD (loss-spec 1.4): L = w (T^2/N) sum_i (alpha TCKD_i + beta NCKD_i), TCKD = KL(b_t || b_s)
/// with b = [p_g, 1 - p_g], NCKD = KL(p^_t || p^_s) over c != g; log(1 - p_g) = lse_{c != g}(u) - lse(u). Gradient
/// per the spec: w (T/N) alpha (q_g - p_g) at g, w (T/N) [alpha (p_g - q_g) q^_j + beta (q^_j - p^_j)] elsewhere.
/// </summary>
public static class DecoupledKDReference
{
    /// <summary>TCKD, NCKD and p_g of one row (unscaled), from the two log-softmaxes.</summary>
    public static (double Tckd, double Nckd, double TeacherTarget) RowTerms(double[] logQ, double[] logP, int target)
    {
        int classes = logQ.Length;
        if (classes == 1) return (0, 0, 1);
        double logRestQ = LogRest(logQ, target), logRestP = LogRest(logP, target);
        double pTarget = Math.Exp(logP[target]);
        double tckd = pTarget * (logP[target] - logQ[target]) + Math.Exp(logRestP) * (logRestP - logRestQ);
        double nckd = 0;
        for (int c = 0; c < classes; c++)
        {
            if (c == target) continue;
            double logPHat = logP[c] - logRestP, logQHat = logQ[c] - logRestQ;
            nckd += Math.Exp(logPHat) * (logPHat - logQHat);
        }
        return (tckd, nckd, pTarget);
    }

    /// <summary>
    /// log(1 - p_g): as log1p(-p_g) while p_g &lt; 1/2, where the non-target log-sum-exp is a near-zero difference of
    /// two values near log C (at a million classes it kept ~1e-13 of error, the size of TCKD's tiniest values); as that
    /// log-sum-exp where p_g is near 1 and 1 - p_g would cancel instead.
    /// </summary>
    public static double LogRest(double[] logProbabilities, int target)
    {
        double pTarget = Math.Exp(logProbabilities[target]);
        if (pTarget < 0.5)
        {
            // Goldberg's log1p: u = fl(1 - p), and log(u) * (-p) / (u - 1) cancels its rounding.
            double u = 1 - pTarget;
            return u == 1 ? -pTarget : Math.Log(u) * (-pTarget / (u - 1));
        }
        return ReferenceMath.LogSumExp(Enumerable.Range(0, logProbabilities.Length).Where(c => c != target)
            .Select(c => logProbabilities[c]));
    }

    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int rows, int classes,
        int[] labels, double temperature, double alpha, double beta, double warmupWeight, int ignoreIndex = -100)
    {
        int counted = ReferenceMath.Counted(rows, labels, ignoreIndex);
        var gradient = new double[(long)rows * classes];
        if (counted == 0) return (0, gradient);

        double loss = 0;
        double perRowGrad = warmupWeight * temperature / counted;
        for (int i = 0; i < rows; i++)
        {
            int g = labels[i];
            if (g == ignoreIndex) continue;
            int offset = i * classes;
            double[] logQ = ReferenceMath.LogSoftmax(student.AsSpan(offset, classes), temperature);
            double[] logP = ReferenceMath.LogSoftmax(teacher.AsSpan(offset, classes), temperature);
            (double tckd, double nckd, double pTarget) = RowTerms(logQ, logP, g);
            loss += warmupWeight * temperature * temperature / counted * (alpha * tckd + beta * nckd);
            if (classes == 1) continue;

            double qTarget = Math.Exp(logQ[g]);
            double logRestQ = LogRest(logQ, g), logRestP = LogRest(logP, g);
            for (int c = 0; c < classes; c++)
            {
                if (c == g)
                {
                    gradient[offset + c] = perRowGrad * alpha * (qTarget - pTarget);
                    continue;
                }
                double qHat = Math.Exp(logQ[c] - logRestQ), pHat = Math.Exp(logP[c] - logRestP);
                gradient[offset + c] = perRowGrad * (alpha * (pTarget - qTarget) * qHat + beta * (qHat - pHat));
            }
        }
        return (loss, gradient);
    }

    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teacher, int rows, int classes,
        int[] labels, double temperature, double alpha, double beta, double warmupWeight) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, labels, temperature,
            alpha, beta, warmupWeight);
}

/// <summary>DKD as the kernel checks run it: always with labels (the target class), alpha 1.5, beta 8, warm-up 0.6.</summary>
public sealed class DecoupledKDCase : RowLossCase<DecoupledKDRow>
{
    private const double Alpha = 1.5, Beta = 8.0, Warmup = 0.6;

    /// <inheritdoc/>
    public override string Family => "dkd";

    /// <inheritdoc/>
    public override bool AlwaysLabels => true;

    /// <inheritdoc/>
    protected override DecoupledKDRow Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, (float)Alpha, (float)Beta, (float)Warmup, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x) =>
        DecoupledKDReference.Compute(x.Student, x.Teacher, x.Rows, x.Classes, x.Labels!, x.Temperature, Alpha, Beta, Warmup);

    /// <inheritdoc/>
    protected override double Magnitude(RowInputs x) => Warmup * (Alpha + Beta) * x.SoftMagnitude;

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => Warmup * (Alpha + Beta) * x.Temperature / x.PerRow;
}
