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
