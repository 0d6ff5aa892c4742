using GpuDistill.Rows;
using GpuDistill.SoftmaxKL;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.DecoupledKD;

/// <summary>
/// The column terms of DKD's statistics pass: KL(p^_t || q^_s) statistics over every column but the target, which is
/// left out outright (no -1000 mask, no masked sum).
/// </summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="inverseTemperature">1/T.</param>
/// <param name="target">The row's target class g.</param>
internal readonly struct DecoupledKDTerms(ArrayView<float> student, ArrayView<float> teacher, float inverseTemperature,
    int target) : IRowTerms<KLSums>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly float inverseTemperature = inverseTemperature;
    private readonly int target = target;

    /// <inheritdoc/>
    public KLSums Empty => KLSums.Empty;

    /// <inheritdoc/>
    public void Add(ref KLSums sums, long index, int column)
    {
        if (column != target) sums.Add(teacher[index], student[index], inverseTemperature);
    }

    /// <inheritdoc/>
    public void Merge(ref KLSums total, in KLSums part) => total.Merge(part, inverseTemperature);
}

/// <summary>
/// Device functions for one row of fused DKD (loss-spec 1.4). Both kernel layouts call them (see
/// <see cref="SoftmaxKLRow"/> for the start/stride/combine convention).
/// </summary>
/// <remarks>
/// Two reads of the row. The first gathers, over c != g only, the online statistics of KL(p^_t || q^_s), so NCKD is
/// the stable closed form of loss-spec 1.1 on the non-target classes and lse_{c != g}(u) comes with it. With the
/// log-odds of the target a = u_g - lse_{c != g}(u), log p_g = -softplus(-a) and log(1 - p_g) = -softplus(a): both
/// are log-sum-exp differences (loss-spec 1.4, stability), so 1 - p_g never underflows into log(0). The second read
/// writes the gradient.
/// </remarks>
internal static class DecoupledKDRow
{
    /// <summary>Handles one row: label check, loss (written by the slice that starts at column 0), gradient.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Target classes, [B].</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void Run<TCombine>(int row, int start, int stride, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in DecoupledKDParameters p)
        where TCombine : struct, IRowCombine
    {
        long offset = (long)row * p.Classes;
        int target = labels[row];
        int status = RowLabels.Status(target, p.HasLabels, p.IgnoreIndex, p.Classes);
        // With one class, p_g = q_g = 1 and there are no non-target classes: both terms and the gradient are 0.
        if (status != RowLabels.Counted || p.Classes == 1)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, p.Classes);
            if (start == 0) rowLoss[row] = status == RowLabels.Counted ? 0f : RowLabels.SkippedLoss(status);
            return;
        }

        float loss = Process<TCombine>(student, teacher, gradient, offset, start, stride, target, p);
        if (start == 0) rowLoss[row] = loss;
    }

    private static float Process<TCombine>(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        long offset, int start, int stride, int target, in DecoupledKDParameters p) where TCombine : struct, IRowCombine
    {
        float invT = p.InverseTemperature;
        var terms = new DecoupledKDTerms(student, teacher, invT, target);
        KLSums rest = RowSweep.Accumulate<KLSums, DecoupledKDTerms>(terms, offset, start, stride, p.Classes);
        rest.Combine<TCombine>(invT);
        float logSumS = rest.Other.LogSum;
        float logSumT = rest.Reference.LogSum;

        // NCKD = KL(p^_t || q^_s) over c != g.
        float nckd = rest.Divergence(invT);

        // Target log-odds against the non-target log-sum-exp; softplus gives log p_g and log(1 - p_g) from them.
        float a = rest.Other.LogProbability(student[offset + target], invT, logSumS);
        float b = rest.Reference.LogProbability(teacher[offset + target], invT, logSumT);
        LogSpace.Softplus(a, out float spA, out float spMinusA); // log q_g = -spMinusA, log(1 - q_g) = -spA
        LogSpace.Softplus(b, out float spB, out float spMinusB); // log p_g = -spMinusB, log(1 - p_g) = -spB
        float pTarget = XMath.Exp(-spMinusB);
        float pRest = XMath.Exp(-spB);
        float qTarget = XMath.Exp(-spMinusA);

        // TCKD = KL([p_g, 1 - p_g] || [q_g, 1 - q_g]).
        float tckd = pTarget * (spMinusA - spMinusB) + pRest * (spA - spB);

        // j = g: w (T/N) alpha (q_g - p_g); j != g: w (T/N) [alpha (p_g - q_g) q^_j + beta (q^_j - p^_j)].
        // When both target probabilities are near 1, q_g - p_g is taken as (1 - p_g) - (1 - q_g), from the
        // complements that the softplus form gives to full relative accuracy.
        float qRest = XMath.Exp(-spA);
        float targetDiff = qTarget > 0.5f && pTarget > 0.5f ? pRest - qRest : qTarget - pTarget;
        float targetGrad = p.TargetGradScale * targetDiff;
        for (int c = start; c < p.Classes; c += stride)
        {
            if (c == target)
            {
                gradient[offset + c] = targetGrad;
                continue;
            }
            float qHat = XMath.Exp(rest.Other.LogProbability(student[offset + c], invT, logSumS));
            float pHat = XMath.Exp(rest.Reference.LogProbability(teacher[offset + c], invT, logSumT));
            gradient[offset + c] = -targetGrad * qHat + p.NonTargetGradScale * (qHat - pHat);
        }
        return p.TargetLossScale * tckd + p.NonTargetLossScale * nckd;
    }
}
