using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The fused reverse KL, T^2 KL(q_s || p_t) averaged over the counted rows (loss-spec 1.2). Labels, when given, only
/// mark padding rows. The scales fold in T and the number of rows that count, so the kernel only multiplies.
/// </summary>
/// <remarks>
/// Three reads of the row: the log-normalisers of q and p (and r* = r at the student argmax); then
/// KL_i - r* = sum_c q_c (r_c - r*) with r = log q - log p, and KL_i itself as sum_c q_c r_c + (p_c - q_c); then the
/// gradient (T/N) q ((r - r*) - (KL_i - r*)).
/// Forward KL folds its sum into the first pass (its gradient q - p does not involve KL_i); here the gradient
/// subtracts the q-weighted mean of r, which cancels wherever q is peaked, so both are taken relative to r* from
/// the same per-column r (see <see cref="LogSoftmaxPair"/>): the gradient keeps its relative accuracy for logits
/// of 1e4 at T = 0.5, where q is one-hot to float precision. The loss is summed apart, per column as
/// <see cref="LogSpace.DivergenceTerm(float, float, float, float)"/> (q r + p - q &gt;= 0): r* + sum q (r - r*) keeps the float32 error of the two
/// log-normalisers in r*, which was up to 2e-3 of the loss where teacher and student barely differ (T = 20).
/// </remarks>
public readonly struct ReverseKLRow : IRowLoss
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="hasLabels">Whether a label view is given (labels only mark padding rows here).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public ReverseKLRow(int rows, int classes, float temperature, bool hasLabels, int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        LossScale = temperature * temperature * perRow;
        GradScale = temperature * perRow;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>The row-per-group kernel hung on an H200 (cause not found; see README, GPU bundle): GPUs take a
    /// thread per row.</summary>
    public static bool GroupLayoutOnGpus => false;

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>T^2 / N: multiplies each row's KL(q || p).</summary>
    public float LossScale { get; }

    /// <summary>T / N: multiplies q (r - KL) in the gradient.</summary>
    public float GradScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine =>
        Compute<TCombine>(row, InverseTemperature, LossScale, GradScale);

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(q || p), gradient gradScale q (r - KL). Also the beta = 1
    /// endpoint of the JSD kernel and, with the roles swapped, the two-sided forward KL (<see cref="BothSidesKLRow"/>).
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row and this thread's slice.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL(q || p) (T^2 / N).</param>
    /// <param name="gradScale">Multiplies q (r - KL) (T / N).</param>
    /// <param name="withTeacherGradient">
    /// Also writes d/dz_t = gradScale (p - q) into <see cref="RowSlice.TeacherGradient"/> (the same column loop).
    /// </param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Compute<TCombine>(in RowSlice row, float inverseTemperature, float lossScale, float gradScale,
        bool withTeacherGradient = false)
        where TCombine : struct, IRowCombine
    {
        ArrayView<float> student = row.Student, teacher = row.Teacher, gradient = row.Gradient;
        long offset = row.Offset;
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(student, teacher, offset, row.Start, row.Stride, row.Classes,
            inverseTemperature);
        float argmaxRatio = logs.ArgmaxLogQ - logs.ArgmaxLogP;
        var terms = new ReverseKLTerms(student, teacher, logs, argmaxRatio);
        SumPair sums = RowSweep.Accumulate<SumPair, ReverseKLTerms>(terms, offset, row.Start, row.Stride, row.Classes);
        sums.Combine<TCombine>();
        float klAboveArgmax = sums.First;

        for (int c = row.Start; c < row.Classes; c += row.Stride)
        {
            float logQ = logs.LogQ(student[offset + c]);
            float logP = logs.LogP(teacher[offset + c]);
            float q = XMath.Exp(logQ);
            gradient[offset + c] = gradScale * q * (((logQ - logP) - argmaxRatio) - klAboveArgmax);
            if (withTeacherGradient) row.TeacherGradient[offset + c] = gradScale * (XMath.Exp(logP) - q);
        }
        return lossScale * sums.Second;
    }
}

/// <summary>
/// The column terms of the reverse-KL sums, once the row's log-normalisers are known. First: q (r - r*),
/// r = log q - log p, r* = r at the student argmax (KL(q || p) - r* for the gradient, see <see cref="LogSoftmaxPair"/>).
/// Second: KL(q || p) as <see cref="LogSpace.DivergenceTerm(float, float, float, float)"/>, which costs one more exp per column (p).
/// </summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="logs">The row's log-softmax of student and teacher.</param>
/// <param name="argmaxRatio">r*.</param>
internal readonly struct ReverseKLTerms(ArrayView<float> student, ArrayView<float> teacher, LogSoftmaxPair logs,
    float argmaxRatio) : IRowTerms<SumPair>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly LogSoftmaxPair logs = logs;
    private readonly float argmaxRatio = argmaxRatio;

    /// <inheritdoc/>
    public SumPair Empty => default;

    /// <inheritdoc/>
    public void Add(ref SumPair sums, long index, int column)
    {
        float logQ = logs.LogQ(student[index]);
        float logP = logs.LogP(teacher[index]);
        float q = XMath.Exp(logQ);
        sums.First += q * ((logQ - logP) - argmaxRatio);
        sums.Second += LogSpace.DivergenceTerm(q, logQ, XMath.Exp(logP), logP);
    }

    /// <inheritdoc/>
    public void Merge(ref SumPair total, in SumPair part) => total.Merge(part);
}
