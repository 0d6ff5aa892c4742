using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the generalised JSD (loss-spec 1.3), scaled by T^2 like Hinton KD:
/// L = (T^2/N) sum_i [beta KL(P || M) + (1 - beta) KL(Q || M)], M = beta P + (1 - beta) Q, with
/// log M = logaddexp(log P + log beta, log Q + log(1 - beta)). beta = 0 is forward KL(P || Q), beta = 1 reverse
/// KL(Q || P). Gradient (1 - beta)(T/N) Q (log Q - log M - KL(Q || M)_i), the spec's formula times T^2.
/// </summary>
public static class JensenShannonReference
{
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int rows, int classes,
        double temperature, double beta, int[]? labels = null, int ignoreIndex = -100)
    {
        if (beta == 1) return ReverseKLReference.Compute(student, teacher, rows, classes, temperature, labels, ignoreIndex);

        int counted = ReferenceMath.Counted(rows, labels, ignoreIndex);
        var gradient = new double[(long)rows * classes];
        if (counted == 0) return (0, gradient);

        double loss = 0;
        for (int i = 0; i < rows; i++)
        {
            if (labels is not null && labels[i] == ignoreIndex) continue;
            int offset = i * classes;
            double[] logQ = ReferenceMath.LogSoftmax(student.AsSpan(offset, classes), temperature);
            double[] logP = ReferenceMath.LogSoftmax(teacher.AsSpan(offset, classes), temperature);

            if (beta == 0)
            {
                // Forward KL(P || Q), gradient (T/N)(q - p).
                double kl = 0;
                for (int c = 0; c < classes; c++) kl += Math.Exp(logP[c]) * (logP[c] - logQ[c]);
                loss += temperature * temperature / counted * kl;
                for (int c = 0; c < classes; c++)
                    gradient[offset + c] = temperature / counted * (Math.Exp(logQ[c]) - Math.Exp(logP[c]));
                continue;
            }

            var logM = new double[classes];
            for (int c = 0; c < classes; c++)
                logM[c] = ReferenceMath.LogAddExp(logP[c] + Math.Log(beta), logQ[c] + Math.Log(1 - beta));
            double klPM = 0, klQM = 0;
            for (int c = 0; c < classes; c++)
            {
                klPM += Math.Exp(logP[c]) * (logP[c] - logM[c]);
                klQM += Math.Exp(logQ[c]) * (logQ[c] - logM[c]);
            }
            loss += temperature * temperature / counted * (beta * klPM + (1 - beta) * klQM);
            for (int c = 0; c < classes; c++)
                gradient[offset + c] = (1 - beta) * temperature / counted * Math.Exp(logQ[c]) * (logQ[c] - logM[c] - klQM);
        }
        return (loss, gradient);
    }

    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teacher, int rows, int classes,
        double temperature, double beta, int[]? labels = null) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, temperature, beta, labels);
}

/// <summary>JSD as the kernel checks run it: beta in the middle for moderate logits, near the reverse-KL end for extreme ones.</summary>
public sealed class JensenShannonCase : RowLossCase<JensenShannonRow>
{
    /// <inheritdoc/>
    public override string Family => "jsd";

    /// <inheritdoc/>
    public override string Describe(bool extreme) => FormattableString.Invariant($"beta={Beta(extreme)}");

    /// <inheritdoc/>
    protected override JensenShannonRow Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, Beta(x.Extreme), x.Labels is not null, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x) =>
        JensenShannonReference.Compute(x.Student, x.Teacher, x.Rows, x.Classes, x.Temperature, Beta(x.Extreme), x.Labels);

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => (1 - Beta(x.Extreme)) * x.Temperature / x.PerRow;

    private static double Beta(bool extreme) => extreme ? 0.9 : 0.5;
}
