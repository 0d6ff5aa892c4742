using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the two-sided forward KL (loss-spec-2 7.3): L = (1/D) sum_i KL(p_i || q_i) with p, q the
/// softmax of teacher and student logits at T and D = N (batchmean) or N*C (elementwise mean), no T^2;
/// d/dz_s = (q - p) / (T D) and d/dz_t = p (log p - log q - KL_i) / (T D). Padding rows are skipped, N = counted rows.
/// </summary>
public static class BothSidesKLReference
{
    public static (double Loss, double[] StudentGradient, double[] TeacherGradient) Compute(double[] student,
        double[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels = null,
        int ignoreIndex = -100)
    {
        int counted = ReferenceMath.Counted(rows, labels, ignoreIndex);
        var studentGradient = new double[(long)rows * classes];
        var teacherGradient = new double[(long)rows * classes];
        if (counted == 0) return (0, studentGradient, teacherGradient);
        double divisor = elementwiseMean ? (double)counted * classes : counted;

        double loss = 0;
        for (int i = 0; i < rows; i++)
        {
            if (labels is not null && labels[i] == ignoreIndex) continue;
            int offset = i * classes;
            double[] logQ = ReferenceMath.LogSoftmax(student.AsSpan(offset, classes), temperature);
            double[] logP = ReferenceMath.LogSoftmax(teacher.AsSpan(offset, classes), temperature);

            double kl = 0;
            for (int c = 0; c < classes; c++) kl += Math.Exp(logP[c]) * (logP[c] - logQ[c]);
            loss += kl / divisor;
            for (int c = 0; c < classes; c++)
            {
                double p = Math.Exp(logP[c]), q = Math.Exp(logQ[c]);
                studentGradient[offset + c] = (q - p) / (temperature * divisor);
                teacherGradient[offset + c] = p * (logP[c] - logQ[c] - kl) / (temperature * divisor);
            }
        }
        return (loss, studentGradient, teacherGradient);
    }

    public static (double Loss, double[] StudentGradient, double[] TeacherGradient) Compute(float[] student,
        float[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels = null) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, temperature,
            elementwiseMean, labels);
}

/// <summary>KL(p || q) with both gradients as the kernel checks run it (batchmean, as DAFL's and DFAD's students).</summary>
public sealed class BothSidesKLCase : RowLossCase<BothSidesKLRow>
{
    /// <inheritdoc/>
    public override string Family => "kl-both-sides";

    /// <inheritdoc/>
    protected override BothSidesKLRow Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, RowReduction.BatchMean, x.Labels is not null, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x)
    {
        (double loss, double[] student, double[] teacher) = BothSidesKLReference.Compute(x.Student, x.Teacher, x.Rows,
            x.Classes, x.Temperature, elementwiseMean: false, x.Labels);
        return (loss, [.. student, .. teacher]);
    }

    /// <inheritdoc/>
    protected override double Magnitude(RowInputs x) => 1 + x.MaxAbs / x.Temperature;

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => 1 / (x.Temperature * x.PerRow);
}
