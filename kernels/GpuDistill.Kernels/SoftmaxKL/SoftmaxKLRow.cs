using GpuDistill.Rows;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.SoftmaxKL;

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

/// <summary>
/// Device functions for one row of the fused softened-softmax KL. Both kernel layouts call them: a thread per row
/// (start 0, stride 1, <see cref="ThreadOwnsRow"/>) and a group per row (start = thread index, stride = group size,
/// <see cref="GroupSharesRow"/>).
/// </summary>
internal static class SoftmaxKLRow
{
    /// <summary>Handles one row: label check, statistics, loss (written by the slice that starts at column 0), gradient.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B] (unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void Run<TCombine>(int row, int start, int stride, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in SoftmaxKLParameters p)
        where TCombine : struct, IRowCombine
    {
        long offset = (long)row * p.Classes;
        int label = p.HasLabels != 0 ? labels[row] : -1;
        int status = RowLabels.Status(label, p.HasLabels, p.IgnoreIndex, p.Classes);
        if (status != RowLabels.Counted)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, p.Classes);
            if (start == 0) rowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }

        float loss = Process<TCombine>(student, teacher, gradient, offset, start, stride, p.Classes, label,
            p.InverseTemperature, p.SoftLossScale, p.SoftGradScale, p.HardScale);
        if (start == 0) rowLoss[row] = loss;
    }

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(p || q) + hardScale CE, gradient gradScale (q - p) +
    /// hardScale (softmax(z_s) - onehot). Two reads of the row. Also the beta = 0 endpoint of the JSD kernel.
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="gradient">Output, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    /// <param name="label">The row's label (used only when <paramref name="hardScale"/> is not 0).</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL (w T^2 / N).</param>
    /// <param name="gradScale">Multiplies q - p (w T / N).</param>
    /// <param name="hardScale">Multiplies the cross-entropy and its gradient (w_hard / N); 0 for none.</param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Process<TCombine>(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        long offset, int start, int stride, int classes, int label, float inverseTemperature, float lossScale,
        float gradScale, float hardScale) where TCombine : struct, IRowCombine
    {
        bool withHard = hardScale != 0f;
        var terms = new SoftmaxKLTerms(student, teacher, inverseTemperature, withHard);
        SoftmaxKLSums s = RowSweep.Accumulate<SoftmaxKLSums, SoftmaxKLTerms>(terms, offset, start, stride, classes);
        s.Soft.Combine<TCombine>(inverseTemperature);
        if (withHard) s.Hard.Combine<TCombine>(1f);

        // KL_i = lse(u_s) - lse(u_t) + sum_c p_c (u_t,c - u_s,c).
        float loss = lossScale * s.Soft.Divergence(inverseTemperature);
        if (withHard)
            loss += hardScale * (s.Hard.LogSum - (student[offset + label] - s.Hard.Max));

        float logSumS = s.Soft.Other.LogSum;
        float logSumT = s.Soft.Reference.LogSum;
        float logSumHard = withHard ? s.Hard.LogSum : 0f;
        for (int c = start; c < classes; c += stride)
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
