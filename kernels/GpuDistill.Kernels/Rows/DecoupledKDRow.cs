using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// Decoupled KD (Zhao et al., CVPR 2022): w T^2 (alpha TCKD + beta NCKD) averaged over the counted rows
/// (loss-spec 1.4). The scales fold in the warm-up weight, alpha or beta, T and the number of rows
/// that count, so the kernel only multiplies. DKD always has labels (the target class of each row).
/// </summary>
public readonly struct DecoupledKDRow : IRowLoss
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="alpha">Weight of the target-class term TCKD.</param>
    /// <param name="beta">Weight of the non-target term NCKD.</param>
    /// <param name="warmupWeight">w, the warm-up factor (min(epoch / warmup, 1) in mdistiller).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/>.</param>
    public DecoupledKDRow(int rows, int classes, float temperature, float alpha, float beta, float warmupWeight,
        int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        TargetLossScale = warmupWeight * alpha * temperature * temperature * perRow;
        NonTargetLossScale = warmupWeight * beta * temperature * temperature * perRow;
        TargetGradScale = warmupWeight * alpha * temperature * perRow;
        NonTargetGradScale = warmupWeight * beta * temperature * perRow;
        IgnoreIndex = ignoreIndex;
    }

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>w alpha T^2 / N: multiplies each row's TCKD.</summary>
    public float TargetLossScale { get; }

    /// <summary>w beta T^2 / N: multiplies each row's NCKD.</summary>
    public float NonTargetLossScale { get; }

    /// <summary>w alpha T / N: the target-class part of the gradient.</summary>
    public float TargetGradScale { get; }

    /// <summary>w beta T / N: the non-target part of the gradient.</summary>
    public float NonTargetGradScale { get; }

    /// <summary>Always 1: DKD needs the target class of every row.</summary>
    public int HasLabels => 1;

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    /// <remarks>
    /// Two reads of the row. The first gathers, over c != g only, the log-normalisers of p^_t and q^_s
    /// (lse_{c != g}(u)); the second writes the gradient and sums NCKD = KL(p^_t || q^_s) per column
    /// (<see cref="LogSpace.DivergenceTerm(float, float, float, float)"/>, which does not cancel where teacher and
    /// student barely differ); TCKD is taken from non-negative shares too (<see cref="TargetDivergence"/>). With
    /// the log-odds of the target a = u_g - lse_{c != g}(u), log p_g = -softplus(-a) and log(1 - p_g) = -softplus(a):
    /// both are log-sum-exp differences (loss-spec 1.4, stability), so 1 - p_g never underflows into log(0). With one class, p_g = q_g = 1 and there are no non-target classes: both
    /// terms and the gradient are 0.
    /// </remarks>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine
    {
        ArrayView<float> student = row.Student, teacher = row.Teacher, gradient = row.Gradient;
        long offset = row.Offset;
        int start = row.Start, stride = row.Stride, target = label;
        if (Classes == 1)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, Classes);
            return 0f;
        }
        float invT = InverseTemperature;
        var terms = new DecoupledKDTerms(student, teacher, invT, target);
        KLSums rest = RowSweep.Accumulate<KLSums, DecoupledKDTerms>(terms, offset, start, stride, Classes);
        rest.Combine<TCombine>(invT);
        float logSumS = rest.Other.LogSum;
        float logSumT = rest.Reference.LogSum;

        // Target log-odds against the non-target log-sum-exp; softplus gives log p_g and log(1 - p_g) from them.
        float a = rest.Other.LogProbability(student[offset + target], invT, logSumS);
        float b = rest.Reference.LogProbability(teacher[offset + target], invT, logSumT);
        LogSpace.Softplus(a, out float spA, out float spMinusA); // log q_g = -spMinusA, log(1 - q_g) = -spA
        LogSpace.Softplus(b, out float spB, out float spMinusB); // log p_g = -spMinusB, log(1 - p_g) = -spB
        float pTarget = XMath.Exp(-spMinusB);
        float pRest = XMath.Exp(-spB);
        float qTarget = XMath.Exp(-spMinusA);

        // j = g: w (T/N) alpha (q_g - p_g); j != g: w (T/N) [alpha (p_g - q_g) q^_j + beta (q^_j - p^_j)].
        // When both target probabilities are near 1, q_g - p_g is taken as (1 - p_g) - (1 - q_g), from the
        // complements that the softplus form gives to full relative accuracy.
        float qRest = XMath.Exp(-spA);
        float targetDiff = qTarget > 0.5f && pTarget > 0.5f ? pRest - qRest : qTarget - pTarget;
        float targetGrad = TargetGradScale * targetDiff;

        // The second read writes the non-target gradient and sums NCKD = KL(p^_t || q^_s) over c != g column by column, and
        // sum (q^ - p^): how far the two rounded non-target log-sum-exps are from normalising, relative to each other.
        var gradientTerms = new DecoupledKDGradientTerms(row, rest, target, invT, targetGrad, NonTargetGradScale);
        SumPair sums = RowSweep.Accumulate<SumPair, DecoupledKDGradientTerms>(gradientTerms, offset, start, stride, Classes);
        sums.Combine<TCombine>();
        float nckd = sums.First;

        // a - b from the target logits' difference less the maxima's, scaled once (each difference of nearby floats
        // rounds far less than the two scaled distances did: at a gap of 4.5e-4 those erred by 3e-8, 1.2e-4 of TCKD),
        // and the log-sum-exps' difference (exact: both are near log C), corrected by that normalisation error.
        float oddsGap = ((student[offset + target] - teacher[offset + target]) - (rest.Other.Max - rest.Reference.Max)) * invT
            - (logSumS - logSumT) - sums.Second;
        float tckd = TargetDivergence(a, b, oddsGap, pTarget, pRest, qTarget, qRest);

        // The target's own gradient, written once by the thread whose slice holds it, from the precise gap where
        // q_g - p_g cancels: q_g - p_g = q_g (1 - p_g) (1 - e^-(a - b)). targetGrad came from the rounded
        // log-sum-exps and erred by 2e-4 of itself at a million classes; the other columns carry it times q^_j, where
        // the error is ~1/C of the target's entry, so they keep it. Past |a - b| = 1 nothing cancels, and
        // e^-(a - b) could overflow against a q_g of 0.
        if (target >= start && (target - start) % stride == 0)
        {
            gradient[offset + target] = XMath.Abs(oddsGap) < 1f
                ? TargetGradScale * (qTarget * pRest * -LogSpace.Expm1(-oddsGap))
                : targetGrad;
        }
        return TargetLossScale * tckd + NonTargetLossScale * nckd;
    }

    /// <summary>
    /// TCKD = KL([p_g, 1 - p_g] || [q_g, 1 - q_g]) from the target log-odds a (student) and b (teacher), as two
    /// non-negative shares (<see cref="LogSpace.DivergenceTermFromLogRatio"/>) of the log-ratios
    /// x1 = log q_g - log p_g and x2 = log(1 - q_g) - log(1 - p_g).
    /// </summary>
    /// <remarks>
    /// p_g (log p_g - log q_g) + (1 - p_g)(log(1 - p_g) - log(1 - q_g)) cancels to ~1e-2 of its terms where teacher
    /// and student barely differ, and log p_g ~ -log C rounds at that size. With t = softplus tails,
    /// x1 = (max(-b, 0) - max(-a, 0)) + (t_b - t_a) and x2 = (max(b, 0) - max(a, 0)) + (t_b - t_a): where a and b have
    /// the same sign the max part is a - b or b - a, taken from <paramref name="oddsGap"/> instead of from a and b.
    /// </remarks>
    private static float TargetDivergence(float a, float b, float oddsGap, float pTarget, float pRest, float qTarget,
        float qRest)
    {
        float tails = LogSpace.SoftplusTail(b) - LogSpace.SoftplusTail(a);
        float x1 = (a <= 0f && b <= 0f ? oddsGap : XMath.Max(-b, 0f) - XMath.Max(-a, 0f)) + tails;
        float x2 = (a >= 0f && b >= 0f ? -oddsGap : XMath.Max(b, 0f) - XMath.Max(a, 0f)) + tails;
        return LogSpace.DivergenceTermFromLogRatio(pTarget, qTarget, x1)
            + LogSpace.DivergenceTermFromLogRatio(pRest, qRest, x2);
    }
}

/// <summary>
/// The column terms of DKD's statistics pass: the log-normalisers of p^_t and q^_s over every column but the target,
/// which is left out outright (no -1000 mask, no masked sum).
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
/// The column terms of DKD's second read: writes the non-target gradient (-targetGrad q^_j + w beta T / N
/// (q^_j - p^_j); the target's entry is left to <see cref="DecoupledKDRow.Process"/>) and sums, over c != g, NCKD as <see cref="LogSpace.DivergenceTerm(float, float, float, float)"/>
/// (First) and q^_j - p^_j (Second).
/// </summary>
internal readonly struct DecoupledKDGradientTerms : IRowTerms<SumPair>
{
    private readonly ArrayView<float> student;
    private readonly ArrayView<float> teacher;
    private readonly ArrayView<float> gradient;
    private readonly SoftmaxSums studentSums;
    private readonly SoftmaxSums teacherSums;
    private readonly float logSumS;
    private readonly float logSumT;
    private readonly int target;
    private readonly float inverseTemperature;
    private readonly float targetGrad;
    private readonly float nonTargetGradScale;

    /// <summary>Creates the terms from the row's complete non-target statistics.</summary>
    /// <param name="row">The row and this thread's slice.</param>
    /// <param name="rest">Teacher (reference) and student (other) statistics over c != g.</param>
    /// <param name="target">The target class g.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="targetGrad">w alpha (T/N) (q_g - p_g), from the rounded log-sum-exps: what the non-target columns carry.</param>
    /// <param name="nonTargetGradScale">w beta T / N.</param>
    public DecoupledKDGradientTerms(in RowSlice row, in KLSums rest, int target, float inverseTemperature,
        float targetGrad, float nonTargetGradScale)
    {
        student = row.Student;
        teacher = row.Teacher;
        gradient = row.Gradient;
        studentSums = rest.Other;
        teacherSums = rest.Reference;
        logSumS = studentSums.LogSum;
        logSumT = teacherSums.LogSum;
        this.target = target;
        this.inverseTemperature = inverseTemperature;
        this.targetGrad = targetGrad;
        this.nonTargetGradScale = nonTargetGradScale;
    }

    /// <inheritdoc/>
    public SumPair Empty => default;

    /// <inheritdoc/>
    public void Add(ref SumPair sums, long index, int column)
    {
        if (column == target) return; // written by Process, once the precise log-odds gap is known
        float logQHat = studentSums.LogProbability(student[index], inverseTemperature, logSumS);
        float logPHat = teacherSums.LogProbability(teacher[index], inverseTemperature, logSumT);
        float qHat = XMath.Exp(logQHat);
        float pHat = XMath.Exp(logPHat);
        gradient[index] = -targetGrad * qHat + nonTargetGradScale * (qHat - pHat);
        sums.First += LogSpace.DivergenceTerm(pHat, logPHat, qHat, logQHat);
        sums.Second += qHat - pHat;
    }

    /// <inheritdoc/>
    public void Merge(ref SumPair total, in SumPair part) => total.Merge(part);
}
