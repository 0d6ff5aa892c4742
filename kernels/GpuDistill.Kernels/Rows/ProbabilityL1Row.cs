using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The L1 distance between the two softened softmax vectors, sum_c |q_c - p_c| with q = softmax(z_s / T) and
/// p = softmax(z_t / T), summed over the counted rows and divided by D (N*C for the elementwise mean of
/// <c>F.l1_loss</c>, or N), with the gradient for both logits (adversarial distillation's generator learns through
/// both). With s = sign(q - p) (sign(0) = 0): d/dz_s = q (s - E_q[s]) / (T D) and d/dz_t = -p (s - E_p[s]) / (T D).
/// </summary>
/// <remarks>
/// Three reads of the row: the log-normalisers; then sum |q - p| and each distribution's mass on the columns where
/// q &gt; p, q &lt; p and q = p; then both gradients. s_j - E_q[s] is taken from the masses of the other columns
/// (for s_j = 1 it is 2 Q_below + Q_tied, as the masses sum to 1), never as a difference of two numbers near 1: where a
/// distribution is peaked that difference would lose the whole gradient to float32 rounding. Labels, when given, only
/// mark padding rows.
/// </remarks>
public readonly struct ProbabilityL1Row : IRowLoss
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="reduction">What the summed rows are divided by.</param>
    /// <param name="hasLabels">Whether a label view is given (labels only mark padding rows here).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public ProbabilityL1Row(int rows, int classes, float temperature, RowReduction reduction, bool hasLabels,
        int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        LossScale = TwoSidedScale.PerRow(reduction, countedRows, classes);
        GradScale = LossScale / temperature;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>Writes d loss / d z_t too.</summary>
    public static bool WritesTeacherGradient => true;

    /// <summary>
    /// It measures the row with <see cref="SoftmaxPair"/> as the reverse KL and JSD do, whose row-per-group kernels
    /// are not launched on GPUs (see <see cref="ReverseKLRow"/>); a thread per row there, as for them.
    /// </summary>
    public static bool GroupLayoutOnGpus => false;

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>1 / D: multiplies each row's sum |q - p|.</summary>
    public float LossScale { get; }

    /// <summary>1 / (T D): multiplies both gradients.</summary>
    public float GradScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine
    {
        ArrayView<float> student = row.Student, teacher = row.Teacher;
        long offset = row.Offset;
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(student, teacher, offset, row.Start, row.Stride, row.Classes,
            InverseTemperature);
        var terms = new ProbabilityL1Terms(student, teacher, logs);
        ProbabilityL1Sums sums = RowSweep.Accumulate<ProbabilityL1Sums, ProbabilityL1Terms>(terms, offset, row.Start,
            row.Stride, row.Classes);
        sums.Combine<TCombine>();

        for (int c = row.Start; c < row.Classes; c += row.Stride)
        {
            float q = XMath.Exp(logs.LogQ(student[offset + c]));
            float p = XMath.Exp(logs.LogP(teacher[offset + c]));
            float s = Sign(q - p);
            row.Gradient[offset + c] = GradScale * q * Centred(s, sums.StudentAbove, sums.StudentBelow, sums.Tied);
            row.TeacherGradient[offset + c] = -GradScale * p * Centred(s, sums.TeacherAbove, sums.TeacherBelow, sums.Tied);
        }
        return LossScale * sums.Distance;
    }

    /// <summary>s - E[s] for a distribution with the given masses on the columns where s is 1, -1 and 0 (summing to 1).</summary>
    /// <param name="s">The column's sign.</param>
    /// <param name="above">Mass where s = 1.</param>
    /// <param name="below">Mass where s = -1.</param>
    /// <param name="tied">Mass where s = 0.</param>
    /// <returns>s - (above - below), written without the cancellation.</returns>
    private static float Centred(float s, float above, float below, float tied) =>
        s > 0f ? 2f * below + tied : s < 0f ? -(2f * above + tied) : below - above;

    /// <summary>sign(x) with sign(0) = 0, as <c>torch.sign</c>.</summary>
    /// <param name="x">A value.</param>
    /// <returns>-1, 0 or 1.</returns>
    private static float Sign(float x) => x > 0f ? 1f : x < 0f ? -1f : 0f;
}

/// <summary>
/// The second pass's sums over one row: sum |q - p|, and the mass of q and of p on the columns where q &gt; p ("above"),
/// q &lt; p ("below") and q = p ("tied", the same for both).
/// </summary>
internal struct ProbabilityL1Sums
{
    /// <summary>sum |q - p|.</summary>
    public float Distance;

    /// <summary>sum of q where q &gt; p.</summary>
    public float StudentAbove;

    /// <summary>sum of q where q &lt; p.</summary>
    public float StudentBelow;

    /// <summary>sum of p where q &gt; p.</summary>
    public float TeacherAbove;

    /// <summary>sum of p where q &lt; p.</summary>
    public float TeacherBelow;

    /// <summary>sum of q (= p) where q = p.</summary>
    public float Tied;

    /// <summary>Adds another slice's sums.</summary>
    /// <param name="part">The other slice.</param>
    public void Merge(in ProbabilityL1Sums part)
    {
        Distance += part.Distance;
        StudentAbove += part.StudentAbove;
        StudentBelow += part.StudentBelow;
        TeacherAbove += part.TeacherAbove;
        TeacherBelow += part.TeacherBelow;
        Tied += part.Tied;
    }

    /// <summary>Sums each over the threads that share the row.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    public void Combine<TCombine>() where TCombine : struct, IRowCombine
    {
        Distance = default(TCombine).Sum(Distance);
        StudentAbove = default(TCombine).Sum(StudentAbove);
        StudentBelow = default(TCombine).Sum(StudentBelow);
        TeacherAbove = default(TCombine).Sum(TeacherAbove);
        TeacherBelow = default(TCombine).Sum(TeacherBelow);
        Tied = default(TCombine).Sum(Tied);
    }
}

/// <summary>The column terms of the second pass (<see cref="ProbabilityL1Sums"/>).</summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="logs">The row's log-softmax of student and teacher.</param>
internal readonly struct ProbabilityL1Terms(ArrayView<float> student, ArrayView<float> teacher, LogSoftmaxPair logs)
    : IRowTerms<ProbabilityL1Sums>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly LogSoftmaxPair logs = logs;

    /// <inheritdoc/>
    public ProbabilityL1Sums Empty => default;

    /// <inheritdoc/>
    public void Add(ref ProbabilityL1Sums sums, long index, int column)
    {
        float q = XMath.Exp(logs.LogQ(student[index]));
        float p = XMath.Exp(logs.LogP(teacher[index]));
        if (q > p)
        {
            sums.Distance += q - p;
            sums.StudentAbove += q;
            sums.TeacherAbove += p;
        }
        else if (q < p)
        {
            sums.Distance += p - q;
            sums.StudentBelow += q;
            sums.TeacherBelow += p;
        }
        else
        {
            sums.Tied += q;
        }
    }

    /// <inheritdoc/>
    public void Merge(ref ProbabilityL1Sums total, in ProbabilityL1Sums part) => total.Merge(part);
}
