using GpuDistill.Rows;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.ReverseKL;

/// <summary>
/// The column terms of the reverse-KL sum, once the row's log-normalisers are known: q (r - r*), r = log q - log p,
/// r* = r at the student argmax; KL(q || p) = r* + their sum (see <see cref="LogSoftmaxPair"/>).
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
        sums.First += XMath.Exp(logQ) * ((logQ - logs.LogP(teacher[index])) - argmaxRatio);
    }

    /// <inheritdoc/>
    public void Merge(ref SumPair total, in SumPair part) => total.Merge(part);
}

/// <summary>
/// Device functions for one row of the fused reverse KL, KL(q || p) (loss-spec 1.2). Both kernel layouts call them
/// (see <see cref="SoftmaxKL.SoftmaxKLRow"/> for the start/stride/combine convention).
/// </summary>
/// <remarks>
/// Three reads of the row: the log-normalisers of q and p (and r* = r at the student argmax); then
/// KL_i - r* = sum_c q_c (r_c - r*) with r = log q - log p; then the gradient (T/N) q ((r - r*) - (KL_i - r*)).
/// Forward KL folds its sum into the first pass (its gradient q - p does not involve KL_i); here the gradient
/// subtracts the q-weighted mean of r, which cancels wherever q is peaked, so both are taken relative to r* from
/// the same per-column r (see <see cref="LogSoftmaxPair"/>): the gradient keeps its relative accuracy for logits
/// of 1e4 at T = 0.5, where q is one-hot to float precision.
/// </remarks>
internal static class ReverseKLRow
{
    /// <summary>Handles one row: label check, loss (written by the slice that starts at column 0), gradient.</summary>
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
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in ReverseKLParameters p)
        where TCombine : struct, IRowCombine
    {
        long offset = (long)row * p.Classes;
        int status = RowLabels.Status(p.HasLabels != 0 ? labels[row] : -1, p.HasLabels, p.IgnoreIndex, p.Classes);
        if (status != RowLabels.Counted)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, p.Classes);
            if (start == 0) rowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }

        float loss = Process<TCombine>(student, teacher, gradient, offset, start, stride, p.Classes,
            p.InverseTemperature, p.LossScale, p.GradScale);
        if (start == 0) rowLoss[row] = loss;
    }

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(q || p), gradient gradScale q (r - KL). Also the beta = 1
    /// endpoint of the JSD kernel.
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="gradient">Output, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL(q || p) (T^2 / N).</param>
    /// <param name="gradScale">Multiplies q (r - KL) (T / N).</param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Process<TCombine>(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        long offset, int start, int stride, int classes, float inverseTemperature, float lossScale, float gradScale)
        where TCombine : struct, IRowCombine
    {
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(student, teacher, offset, start, stride, classes, inverseTemperature);
        float argmaxRatio = logs.ArgmaxLogQ - logs.ArgmaxLogP;
        var terms = new ReverseKLTerms(student, teacher, logs, argmaxRatio);
        SumPair sums = RowSweep.Accumulate<SumPair, ReverseKLTerms>(terms, offset, start, stride, classes);
        float klAboveArgmax = default(TCombine).Sum(sums.First);

        for (int c = start; c < classes; c += stride)
        {
            float logQ = logs.LogQ(student[offset + c]);
            float r = logQ - logs.LogP(teacher[offset + c]);
            gradient[offset + c] = gradScale * XMath.Exp(logQ) * ((r - argmaxRatio) - klAboveArgmax);
        }
        return lossScale * (argmaxRatio + klAboveArgmax);
    }
}
