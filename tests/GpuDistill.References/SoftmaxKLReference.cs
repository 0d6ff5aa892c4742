using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the fused KL loss (loss-spec 1.1), written plainly from the definitions: log-softmax by
/// log-sum-exp, KL(p || q) summed over classes, cross-entropy at T = 1, padding rows skipped, mean over counted rows.
/// </summary>
public static class SoftmaxKLReference
{
    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teacher, int rows, int classes,
        double temperature, int[]? labels = null, double softWeight = 1, double hardWeight = 0, int ignoreIndex = -100)
    {
        int counted = labels is null ? rows : labels.Count(y => y != ignoreIndex);
        var gradient = new double[(long)rows * classes];
        if (counted == 0) return (0, gradient);

        double loss = 0;
        var logQ = new double[classes];
        var logP = new double[classes];
        var logQHard = new double[classes];
        for (int i = 0; i < rows; i++)
        {
            int label = labels?[i] ?? -1;
            if (labels is not null && label == ignoreIndex) continue;
            long offset = (long)i * classes;
            LogSoftmax(student, offset, classes, temperature, logQ);
            LogSoftmax(teacher, offset, classes, temperature, logP);

            double kl = 0;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(logP[c]);
                if (p > 0) kl += p * (logP[c] - logQ[c]);
                gradient[offset + c] = softWeight * temperature / counted * (Math.Exp(logQ[c]) - p);
            }
            loss += softWeight * temperature * temperature / counted * kl;

            if (labels is not null && hardWeight != 0)
            {
                LogSoftmax(student, offset, classes, 1.0, logQHard);
                loss += hardWeight / counted * -logQHard[label];
                for (int c = 0; c < classes; c++)
                    gradient[offset + c] += hardWeight / counted * (Math.Exp(logQHard[c]) - (c == label ? 1 : 0));
            }
        }
        return (loss, gradient);
    }

    /// <summary>log softmax(z / T) of one row, by log-sum-exp in float64.</summary>
    public static void LogSoftmax(float[] logits, long offset, int classes, double temperature, double[] result)
    {
        double max = double.NegativeInfinity;
        for (int c = 0; c < classes; c++) max = Math.Max(max, logits[offset + c] / temperature);
        double sum = 0;
        for (int c = 0; c < classes; c++) sum += Math.Exp(logits[offset + c] / temperature - max);
        double lse = max + Math.Log(sum);
        for (int c = 0; c < classes; c++) result[c] = logits[offset + c] / temperature - lse;
    }
}

/// <summary>The forward KL as the kernel checks run it: with labels it adds a hard cross-entropy (0.9 / 0.1), as KD.</summary>
public sealed class SoftmaxKLCase : RowLossCase<SoftmaxKLRow>
{
    /// <inheritdoc/>
    public override string Family => "softmax-kl";

    /// <inheritdoc/>
    protected override SoftmaxKLRow Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, (float)Soft(x), (float)Hard(x), x.Labels is not null, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x) =>
        SoftmaxKLReference.Compute(x.Student, x.Teacher, x.Rows, x.Classes, x.Temperature, x.Labels, Soft(x), Hard(x), RowInputs.IgnoreIndex);

    /// <inheritdoc/>
    protected override double Magnitude(RowInputs x) => x.SoftMagnitude + 1 + x.MaxAbs;

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => Math.Max(Soft(x) * x.Temperature, Hard(x)) / x.PerRow;

    private static double Soft(RowInputs x) => x.Labels is null ? 1.0 : 0.9;

    private static double Hard(RowInputs x) => x.Labels is null ? 0.0 : 0.1;
}
