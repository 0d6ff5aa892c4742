using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The fused softened-softmax KL (Hinton KD, loss-spec 1.1) with an optional hard-label cross-entropy: w_soft T^2
/// KL(p_t || q_s) + w_hard CE(z_s, y), averaged over the counted rows. Two reads of each row (statistics, then
/// gradient). The scales fold in the weights, T and the number of rows that count, so the kernel only multiplies.
/// </summary>
public readonly struct SoftmaxKLRow : IRowLoss
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="softWeight">Weight of the KL term.</param>
    /// <param name="hardWeight">Weight of the cross-entropy term (ignored without labels).</param>
    /// <param name="hasLabels">Whether a label view is given.</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public SoftmaxKLRow(int rows, int classes, float temperature, float softWeight, float hardWeight,
        bool hasLabels, int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        SoftLossScale = softWeight * temperature * temperature * perRow;
        SoftGradScale = softWeight * temperature * perRow;
        HardScale = hasLabels ? hardWeight * perRow : 0f;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>w_soft * T^2 / N: multiplies each row's KL.</summary>
    public float SoftLossScale { get; }

    /// <summary>w_soft * T / N: multiplies (q - p) in the gradient.</summary>
    public float SoftGradScale { get; }

    /// <summary>w_hard / N, or 0 when there is no hard term.</summary>
    public float HardScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine =>
        Compute<TCombine>(row, label, InverseTemperature, SoftLossScale, SoftGradScale, HardScale);

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(p || q) + hardScale CE, gradient gradScale (q - p) +
    /// hardScale (softmax(z_s) - onehot). Two reads of the row. Also the beta = 0 endpoint of the JSD kernel.
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row and this thread's slice.</param>
    /// <param name="label">The row's label (used only when <paramref name="hardScale"/> is not 0).</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL (w T^2 / N).</param>
    /// <param name="gradScale">Multiplies q - p (w T / N).</param>
    /// <param name="hardScale">Multiplies the cross-entropy and its gradient (w_hard / N); 0 for none.</param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Compute<TCombine>(in RowSlice row, int label, float inverseTemperature, float lossScale,
        float gradScale, float hardScale) where TCombine : struct, IRowCombine
    {
        ArrayView<float> student = row.Student, teacher = row.Teacher, gradient = row.Gradient;
        long offset = row.Offset;
        bool withHard = hardScale != 0f;
        var terms = new SoftmaxKLTerms(student, teacher, inverseTemperature, withHard);
        SoftmaxKLSums s = RowSweep.Accumulate<SoftmaxKLSums, SoftmaxKLTerms>(terms, offset, row.Start, row.Stride, row.Classes);
        s.Soft.Combine<TCombine>(inverseTemperature);
        if (withHard) s.Hard.Combine<TCombine>(1f);

        // KL_i = lse(u_s) - lse(u_t) + sum_c p_c (u_t,c - u_s,c).
        float loss = lossScale * s.Soft.Divergence(inverseTemperature);
        if (withHard)
            loss += hardScale * (s.Hard.LogSum - (student[offset + label] - s.Hard.Max));

        float logSumS = s.Soft.Other.LogSum;
        float logSumT = s.Soft.Reference.LogSum;
        float logSumHard = withHard ? s.Hard.LogSum : 0f;
        for (int c = row.Start; c < row.Classes; c += row.Stride)
        {
            float zs = student[offset + c];
            float q = XMath.Exp(s.Soft.Other.LogProbability(zs, inverseTemperature, logSumS));
            float pt = XMath.Exp(s.Soft.Reference.LogProbability(teacher[offset + c], inverseTemperature, logSumT));
            float g = gradScale * (q - pt);
            if (withHard)
                g += hardScale * (XMath.Exp(s.Hard.LogProbability(zs, 1f, logSumHard)) - (c == label ? 1f : 0f));
            gradient[offset + c] = g;
        }
        return loss;
    }
}

/// <summary>
/// One-pass statistics of one row of the fused softened-softmax KL: KL(p || q) at temperature T (teacher-weighted,
/// loss-spec 1.1 fusion note) and, for the hard term, the log-sum-exp of the student at T = 1.
/// </summary>
internal struct SoftmaxKLSums
{
    /// <summary>KL(p_t || q_s) statistics (reference = teacher, other = student).</summary>
    public KLSums Soft;

    /// <summary>Online log-sum-exp of z_s at T = 1 (cross-entropy).</summary>
    public SoftmaxSums Hard;
}

/// <summary>The column terms of the statistics pass.</summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="inverseTemperature">1/T.</param>
/// <param name="withHard">Whether to gather the T = 1 statistics for cross-entropy.</param>
internal readonly struct SoftmaxKLTerms(ArrayView<float> student, ArrayView<float> teacher, float inverseTemperature,
    bool withHard) : IRowTerms<SoftmaxKLSums>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly float inverseTemperature = inverseTemperature;
    private readonly bool withHard = withHard;

    /// <inheritdoc/>
    public SoftmaxKLSums Empty => new() { Soft = KLSums.Empty, Hard = SoftmaxSums.Empty };

    /// <inheritdoc/>
    public void Add(ref SoftmaxKLSums sums, long index, int column)
    {
        float zs = student[index];
        sums.Soft.Add(teacher[index], zs, inverseTemperature);
        if (withHard) sums.Hard.Add(zs, 1f);
    }

    /// <inheritdoc/>
    public void Merge(ref SoftmaxKLSums total, in SoftmaxKLSums part)
    {
        total.Soft.Merge(part.Soft, inverseTemperature);
        total.Hard.Merge(part.Hard, 1f);
    }
}
