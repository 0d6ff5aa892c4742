using System.Runtime.CompilerServices;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// Fused Decoupled KD (loss-spec 1.4) on the host: the same results and rules as <see cref="DecoupledKDRow"/>. The
/// non-target statistics are taken over the columns before and after the target as two runs, so the target is left
/// out outright (no mask, and its maxima are those of the non-target columns).
/// </summary>
/// <remarks>
/// Three reads of a row in cache: non-target maxima; the KL sums (keeping e_s, e_t); the gradient. TCKD and the
/// target's gradient come from the target log-odds through softplus, in double, as the kernel does in float.
/// </remarks>
/// <param name="p">Launch scalars.</param>
internal readonly unsafe struct HostDecoupledKD(DecoupledKDRow p) : IHostRowLoss<HostDecoupledKD, DecoupledKDRow>
{
    private readonly DecoupledKDRow p = p;

    /// <inheritdoc/>
    public static HostDecoupledKD For(in DecoupledKDRow loss) => new(loss);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(in HostRowBatch batch, int row, float* scratch)
    {
        int classes = batch.Classes;
        long offset = (long)row * classes;
        float* student = batch.Student + offset, teacher = batch.Teacher + offset, gradient = batch.Gradient + offset;
        int target = batch.Labels[row];
        int status = RowLabels.Status(target, p.HasLabels, p.IgnoreIndex, classes);
        // With one class, p_g = q_g = 1 and there are no non-target classes: both terms and the gradient are 0.
        if (status != RowLabels.Counted || classes == 1)
        {
            HostRows.Clear(gradient, classes);
            batch.RowLoss[row] = status == RowLabels.Counted ? 0f : RowLabels.SkippedLoss(status);
            return;
        }

        // Non-target maxima over the runs [0, g) and (g, C); the target's own logits must be finite too.
        int after = classes - target - 1;
        bool finite = float.IsFinite(student[target]) && float.IsFinite(teacher[target]);
        float maxS = float.NegativeInfinity, maxT = float.NegativeInfinity;
        if (target > 0) finite &= HostRows.MaxPair(student, teacher, target, out maxS, out maxT);
        if (after > 0)
        {
            finite &= HostRows.MaxPair(student + target + 1, teacher + target + 1, after, out float maxS2, out float maxT2);
            maxS = Math.Max(maxS, maxS2);
            maxT = Math.Max(maxT, maxT2);
        }
        if (!finite)
        {
            batch.RowLoss[row] = float.NaN;
            return;
        }

        float invT = p.InverseTemperature;
        var rest = default(HostKLSums);
        HostKLPasses.Accumulate(student, teacher, gradient, scratch, target, maxS, maxT, invT, false, ref rest);
        HostKLPasses.Accumulate(student + target + 1, teacher + target + 1, gradient + target + 1, scratch + target + 1,
            after, maxS, maxT, invT, false, ref rest);
        double nckd = rest.Divergence();

        // Target log-odds against the non-target log-sum-exp; softplus gives log p_g and log(1 - p_g) from them.
        double a = ((double)student[target] - maxS) * invT - Math.Log(rest.SumS);
        double b = ((double)teacher[target] - maxT) * invT - Math.Log(rest.SumT);
        Softplus(a, out double spA, out double spMinusA); // log q_g = -spMinusA, log(1 - q_g) = -spA
        Softplus(b, out double spB, out double spMinusB); // log p_g = -spMinusB, log(1 - p_g) = -spB
        double pTarget = Math.Exp(-spMinusB), pRest = Math.Exp(-spB);
        double qTarget = Math.Exp(-spMinusA), qRest = Math.Exp(-spA);
        double tckd = pTarget * (spMinusA - spMinusB) + pRest * (spA - spB);

        // j = g: w (T/N) alpha (q_g - p_g); j != g: w (T/N) [alpha (p_g - q_g) q^_j + beta (q^_j - p^_j)], taking
        // q_g - p_g from the complements when both are near 1, as the kernel does.
        double targetDiff = qTarget > 0.5 && pTarget > 0.5 ? pRest - qRest : qTarget - pTarget;
        double targetGrad = p.TargetGradScale * targetDiff;
        float studentScale = (float)((p.NonTargetGradScale - targetGrad) / rest.SumS);
        float teacherScale = (float)(p.NonTargetGradScale / rest.SumT);
        HostKLPasses.WriteGradient(gradient, scratch, student, target, studentScale, teacherScale, maxS, 0f);
        HostKLPasses.WriteGradient(gradient + target + 1, scratch + target + 1, student + target + 1, after,
            studentScale, teacherScale, maxS, 0f);
        gradient[target] = (float)targetGrad;
        batch.RowLoss[row] = (float)(p.TargetLossScale * tckd + p.NonTargetLossScale * nckd);
    }

    /// <summary>softplus(x) and softplus(-x) in double, sharing one exp and one log1p.</summary>
    private static void Softplus(double x, out double ofX, out double ofMinusX)
    {
        double y = Math.Exp(-Math.Abs(x));
        // Goldberg's log1p: u = fl(1 + y); log(u) * y / (u - 1) cancels its rounding.
        double u = 1 + y;
        double tail = u == 1 ? y : Math.Log(u) * (y / (u - 1));
        ofX = Math.Max(x, 0) + tail;
        ofMinusX = Math.Max(-x, 0) + tail;
    }
}
