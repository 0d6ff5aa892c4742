namespace GpuDistill.References;

/// <summary>
/// Float64 reference of multi-teacher KD, written plainly from the definitions: per row, log p_k = log softmax(t_k / T)
/// for each teacher, weights w_k (fixed, normalised; or softmax(t_k)[y] at T = 1, normalised over k), log q =
/// log sum_k w_k p_k taken as a log-sum-exp over k, loss T^2/B sum_c q_c (log q_c - log softmax(s / T)_c) with
/// 0 log 0 = 0, gradient T/B (softmax(s / T) - q).
/// </summary>
public static class MultiTeacherKDReference
{
    /// <summary>The loss and d loss / d student for float32 data.</summary>
    /// <param name="student">[B*C].</param>
    /// <param name="teachers">[K*B*C], teacher-major.</param>
    /// <param name="fixedWeights">K weights (any positive sum), or null for confidence weights.</param>
    /// <param name="labels">B labels for confidence weights, or null.</param>
    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teachers, int rows, int classes,
        int teacherCount, double temperature, double[]? fixedWeights, int[]? labels) =>
        Compute(ReferenceMath.ToDouble(student), teachers, rows, classes, teacherCount, temperature, fixedWeights, labels);

    /// <summary>As above with the student in float64 (for finite differences).</summary>
    public static (double Loss, double[] Gradient) Compute(double[] student, float[] teachers, int rows, int classes,
        int teacherCount, double temperature, double[]? fixedWeights, int[]? labels)
    {
        var gradient = new double[(long)rows * classes];
        double loss = 0;
        for (int b = 0; b < rows; b++)
        {
            double[] logW = LogWeights(teachers, rows, classes, teacherCount, b, fixedWeights, labels);
            var logP = new double[teacherCount][];
            for (int k = 0; k < teacherCount; k++)
                logP[k] = ReferenceMath.LogSoftmax(Row(teachers, ((long)k * rows + b) * classes, classes), temperature);
            double[] logStudent = ReferenceMath.LogSoftmax(student.AsSpan(b * classes, classes), temperature);

            double kl = 0;
            for (int c = 0; c < classes; c++)
            {
                double logQ = ReferenceMath.LogSumExp(Enumerable.Range(0, teacherCount)
                    .Where(k => logW[k] > double.NegativeInfinity).Select(k => logW[k] + logP[k][c]));
                double q = Math.Exp(logQ);
                if (q > 0) kl += q * (logQ - logStudent[c]);
                gradient[(long)b * classes + c] = temperature / rows * (Math.Exp(logStudent[c]) - q);
            }
            loss += temperature * temperature / rows * kl;
        }
        return (loss, gradient);
    }

    /// <summary>log w_k of one row, normalised so the weights sum to one.</summary>
    public static double[] LogWeights(float[] teachers, int rows, int classes, int teacherCount, int row,
        double[]? fixedWeights, int[]? labels)
    {
        var raw = new double[teacherCount];
        for (int k = 0; k < teacherCount; k++)
        {
            if (fixedWeights is not null)
            {
                raw[k] = Math.Log(fixedWeights[k]);
            }
            else
            {
                double[] logSoftmax = ReferenceMath.LogSoftmax(Row(teachers, ((long)k * rows + row) * classes, classes), 1.0);
                raw[k] = logSoftmax[labels![row]];
            }
        }
        double total = ReferenceMath.LogSumExp(raw.Where(v => v > double.NegativeInfinity));
        return raw.Select(v => v - total).ToArray();
    }

    private static double[] Row(float[] values, long offset, int classes)
    {
        var row = new double[classes];
        for (int c = 0; c < classes; c++) row[c] = values[offset + c];
        return row;
    }
}
