using GpuDistill.Kernels.Rows;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the L1 distance between softened softmax vectors: L = (1/D) sum_i sum_c |q_c - p_c| with
/// q, p the softmax of student and teacher logits at T and D = N*C (elementwise mean) or N. With s = sign(q - p),
/// sign(0) = 0: d/dz_s,j = q_j (s_j - sum_c q_c s_c) / (T D) and d/dz_t,j = -p_j (s_j - sum_c p_c s_c) / (T D).
/// Padding rows are skipped, N = counted rows.
/// </summary>
public static class ProbabilityL1Reference
{
    public static (double Loss, double[] StudentGradient, double[] TeacherGradient) Compute(double[] student,
        double[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels = null,
        int ignoreIndex = -100) =>
        Compute(student, teacher, rows, classes, temperature, elementwiseMean, labels, ignoreIndex, kernelStudentGradient: null);

    /// <summary>
    /// The reference at the signs a float32 kernel took: where q and p are so near that float32 may take either sign
    /// of q - p (the distance's kink, where either sign gives a valid subgradient), the column takes the sign of the
    /// kernel's student gradient there, q_j (s_j - E[s]) / (T D), which tells s_j in {-1, 0, 1} (0 where float32 found
    /// q = p exactly). Elsewhere the float64 sign stands.
    /// </summary>
    public static (double Loss, double[] StudentGradient, double[] TeacherGradient) AtKernelSigns(float[] student,
        float[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels,
        float[] kernelStudentGradient) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, temperature,
            elementwiseMean, labels, -100, kernelStudentGradient);

    private static (double Loss, double[] StudentGradient, double[] TeacherGradient) Compute(double[] student,
        double[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels,
        int ignoreIndex, float[]? kernelStudentGradient)
    {
        // How near q and p must be for float32 to take either sign: its log-probabilities are good to about
        // 6e-8 (1 + 2 max|z| / T), and the softmax's sum of C terms adds about 6e-8 sqrt(C); eight times both.
        double maxAbs = Math.Max(student.Max(Math.Abs), teacher.Max(Math.Abs));
        double nearTie = 8 * 6e-8 * (1 + 2 * maxAbs / temperature + Math.Sqrt(classes));
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
            double[] q = Probabilities(student.AsSpan(offset, classes), temperature);
            double[] p = Probabilities(teacher.AsSpan(offset, classes), temperature);
            double[] s = new double[classes];
            double meanSignQ = 0, meanSignP = 0;
            for (int c = 0; c < classes; c++)
            {
                s[c] = Math.Sign(q[c] - p[c]);
                loss += Math.Abs(q[c] - p[c]) / divisor;
                meanSignQ += q[c] * s[c];
            }
            if (kernelStudentGradient is not null)
            {
                // The kernel's gradient there is q_j (s_j - E[s]) / (T D): s_j in {-1, 0, 1} is the nearest integer to
                // g T D / q_j + E[s] (E[s] moves by at most 2 q of the near columns, far less than 1/2).
                double mean = meanSignQ;
                for (int c = 0; c < classes; c++)
                {
                    if (Math.Abs(q[c] - p[c]) > nearTie * Math.Max(q[c], p[c]) || q[c] == 0) continue;
                    double centred = kernelStudentGradient[offset + c] * temperature * divisor / q[c];
                    double kernelSign = Math.Clamp(Math.Round(centred + mean), -1, 1);
                    meanSignQ += q[c] * (kernelSign - s[c]);
                    s[c] = kernelSign;
                }
            }
            for (int c = 0; c < classes; c++) meanSignP += p[c] * s[c];
            for (int c = 0; c < classes; c++)
            {
                studentGradient[offset + c] = q[c] * (s[c] - meanSignQ) / (temperature * divisor);
                teacherGradient[offset + c] = -p[c] * (s[c] - meanSignP) / (temperature * divisor);
            }
        }
        return (loss, studentGradient, teacherGradient);
    }

    public static (double Loss, double[] StudentGradient, double[] TeacherGradient) Compute(float[] student,
        float[] teacher, int rows, int classes, double temperature, bool elementwiseMean, int[]? labels = null) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), rows, classes, temperature,
            elementwiseMean, labels);

    /// <summary>softmax(z / T) of one row.</summary>
    public static double[] Probabilities(ReadOnlySpan<double> logits, double temperature)
    {
        double[] log = ReferenceMath.LogSoftmax(logits, temperature);
        return Array.ConvertAll(log, Math.Exp);
    }
}

/// <summary>The L1 distance between probabilities with both gradients as the kernel checks run it (elementwise mean, DFAD's).</summary>
public sealed class ProbabilityL1Case : RowLossCase<ProbabilityL1Row>
{
    /// <inheritdoc/>
    public override string Family => "probability-l1";

    /// <inheritdoc/>
    protected override ProbabilityL1Row Create(RowInputs x) =>
        new(x.Rows, x.Classes, (float)x.Temperature, RowReduction.ElementwiseMean, x.Labels is not null, RowInputs.IgnoreIndex, x.Counted);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x) => Reference(x, null);

    /// <inheritdoc/>
    protected override (double Loss, double[] Gradient) Reference(RowInputs x, float[]? kernelGradient)
    {
        (double loss, double[] student, double[] teacher) = kernelGradient is null
            ? ProbabilityL1Reference.Compute(x.Student, x.Teacher, x.Rows, x.Classes, x.Temperature, elementwiseMean: true, x.Labels)
            : ProbabilityL1Reference.AtKernelSigns(x.Student, x.Teacher, x.Rows, x.Classes, x.Temperature, elementwiseMean: true,
                x.Labels, kernelGradient);
        return (loss, [.. student, .. teacher]);
    }

    /// <inheritdoc/>
    protected override double Magnitude(RowInputs x) => 2.0 / x.Classes;

    /// <inheritdoc/>
    protected override double GradientScale(RowInputs x) => 1 / (x.Temperature * x.PerRow * x.Classes);
}
