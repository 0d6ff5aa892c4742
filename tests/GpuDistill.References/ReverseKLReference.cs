using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the reverse KL (loss-spec 1.2): L = (T^2/N) sum_i sum_c q (log q - log p), gradient
/// (T/N) q (r - KLrev_i) with r = log q - log p; padding rows skipped, N = counted rows.
/// </summary>
public static class ReverseKLReference
{
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int rows, int classes,
        double temperature, int[]? labels = null, int ignoreIndex = -100)
    {
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

            double kl = 0;
            for (int c = 0; c < classes; c++) kl += Math.Exp(logQ[c]) * (logQ[c] - logP[c]);
            loss += temperature * temperature / counted * kl;
            for (int c = 0; c < classes; c++)
                gradient[offset + c] = temperature / counted * Math.Exp(logQ[c]) * (logQ[c] - logP[c] - kl);
        }
        return (loss, gradient);
    }

    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teacher, int rows, int classes,
        double temperature, int[]? labels = null) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, temperature, labels);
}

/// <summary>The reverse KL as the kernel checks run it.</summary>
public sealed class ReverseKLCase : RowLossCase<ReverseKLRow>
{
    /// <inheritdoc/>
    public override string Family => "reverse-kl";

    /// <inheritdoc/>
    protected override ReverseKLRow Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, x.Labels is not null, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x) =>
        ReverseKLReference.Compute(x.Student, x.Teacher, x.Rows, x.Classes, x.Temperature, x.Labels);

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => x.Temperature / x.PerRow;
}
