using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.SoftmaxKL;

/// <summary>
/// Per-thread online statistics of one row, for a strided slice of its columns. Online max/sum (rescaled when the
/// max grows) lets one read of the row give every log-sum-exp the loss needs (loss-spec 1.1, "fusion note").
/// </summary>
internal struct SoftmaxKLRowStats
{
    /// <summary>Running max of z_s (the max of z_s / T is this over T).</summary>
    public float MaxStudent;

    /// <summary>sum exp((z_s - MaxStudent) / T).</summary>
    public float SumStudent;

    /// <summary>Running max of z_t.</summary>
    public float MaxTeacher;

    /// <summary>sum exp((z_t - MaxTeacher) / T).</summary>
    public float SumTeacher;

    /// <summary>sum exp((z_t - MaxTeacher) / T) * (z_t - z_s) / T: sum p (u_t - u_s) once divided by SumTeacher.</summary>
    public float Cross;

    /// <summary>Running max of z_s (T = 1, for the cross-entropy term).</summary>
    public float MaxHard;

    /// <summary>sum exp(z_s - MaxHard).</summary>
    public float SumHard;

    /// <summary>Statistics of an empty slice.</summary>
    public static SoftmaxKLRowStats Empty => new()
    {
        MaxStudent = float.NegativeInfinity,
        MaxTeacher = float.NegativeInfinity,
        MaxHard = float.NegativeInfinity,
    };
}

/// <summary>
/// Device functions for one row of the fused softened-softmax KL. Both kernel layouts call them: a thread per row
/// (start 0, stride 1) and a group per row (start = thread index, stride = group size).
/// </summary>
internal static class SoftmaxKLRow
{
    /// <summary>Reads columns start, start + stride, ... of one row once and accumulates the online statistics.</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="withHard">Whether to gather the T = 1 statistics for cross-entropy.</param>
    /// <returns>The slice's statistics.</returns>
    public static SoftmaxKLRowStats Accumulate(ArrayView<float> student, ArrayView<float> teacher, long offset,
        int start, int stride, in SoftmaxKLParameters p, bool withHard)
    {
        // Two-level summation: blocks of BlockLength terms are summed on their own and then merged, so a row of
        // 100k classes keeps float32 sums accurate to ~1e-6 instead of the ~1e-4 of one long running sum.
        SoftmaxKLRowStats total = SoftmaxKLRowStats.Empty;
        int blockSpan = BlockLength * stride;
        for (int blockStart = start; blockStart < p.Classes; blockStart += blockSpan)
        {
            int blockEnd = XMath.Min(p.Classes, blockStart + blockSpan);
            Merge(ref total, AccumulateBlock(student, teacher, offset, blockStart, blockEnd, stride, p, withHard), p.InverseTemperature);
        }
        return total;
    }

    /// <summary>Terms summed before they are merged into the row's totals.</summary>
    public const int BlockLength = 512;

    /// <summary>Adds the statistics of another slice of the same row into <paramref name="total"/>.</summary>
    /// <param name="total">Running statistics.</param>
    /// <param name="part">Statistics of a disjoint slice.</param>
    /// <param name="inverseTemperature">1/T.</param>
    public static void Merge(ref SoftmaxKLRowStats total, in SoftmaxKLRowStats part, float inverseTemperature)
    {
        float maxS = XMath.Max(total.MaxStudent, part.MaxStudent);
        total.SumStudent = Rescale(total.SumStudent, total.MaxStudent, maxS, inverseTemperature)
            + Rescale(part.SumStudent, part.MaxStudent, maxS, inverseTemperature);
        total.MaxStudent = maxS;

        float maxT = XMath.Max(total.MaxTeacher, part.MaxTeacher);
        total.SumTeacher = Rescale(total.SumTeacher, total.MaxTeacher, maxT, inverseTemperature)
            + Rescale(part.SumTeacher, part.MaxTeacher, maxT, inverseTemperature);
        total.Cross = Rescale(total.Cross, total.MaxTeacher, maxT, inverseTemperature)
            + Rescale(part.Cross, part.MaxTeacher, maxT, inverseTemperature);
        total.MaxTeacher = maxT;

        float maxH = XMath.Max(total.MaxHard, part.MaxHard);
        total.SumHard = Rescale(total.SumHard, total.MaxHard, maxH, 1f) + Rescale(part.SumHard, part.MaxHard, maxH, 1f);
        total.MaxHard = maxH;
    }

    private static SoftmaxKLRowStats AccumulateBlock(ArrayView<float> student, ArrayView<float> teacher, long offset,
        int start, int end, int stride, in SoftmaxKLParameters p, bool withHard)
    {
        SoftmaxKLRowStats s = SoftmaxKLRowStats.Empty;
        float invT = p.InverseTemperature;
        // Maxima are kept on the raw logits and every exponent is (z - max) / T: the difference is exact or nearly
        // so, while z / T - max / T would round twice at the magnitude of the logits (1e4 logits lose 1e-3).
        for (int c = start; c < end; c += stride)
        {
            float zs = student[offset + c];
            float zt = teacher[offset + c];

            if (zs > s.MaxStudent)
            {
                s.SumStudent = s.SumStudent * XMath.Exp((s.MaxStudent - zs) * invT) + 1f;
                s.MaxStudent = zs;
            }
            else
            {
                s.SumStudent += XMath.Exp((zs - s.MaxStudent) * invT);
            }

            float diff = (zt - zs) * invT;
            if (zt > s.MaxTeacher)
            {
                float rescale = XMath.Exp((s.MaxTeacher - zt) * invT);
                s.SumTeacher = s.SumTeacher * rescale + 1f;
                s.Cross = s.Cross * rescale + diff;
                s.MaxTeacher = zt;
            }
            else
            {
                float e = XMath.Exp((zt - s.MaxTeacher) * invT);
                s.SumTeacher += e;
                s.Cross += e * diff;
            }

            if (withHard)
            {
                if (zs > s.MaxHard)
                {
                    s.SumHard = s.SumHard * XMath.Exp(s.MaxHard - zs) + 1f;
                    s.MaxHard = zs;
                }
                else
                {
                    s.SumHard += XMath.Exp(zs - s.MaxHard);
                }
            }
        }
        return s;
    }

    /// <summary>Rescales a slice's sums to a shared max (used before summing slices across a group).</summary>
    /// <param name="sum">Sum relative to <paramref name="localMax"/>.</param>
    /// <param name="localMax">The slice's max (-inf for an empty slice).</param>
    /// <param name="sharedMax">The row's max.</param>
    /// <returns>The same sum relative to <paramref name="sharedMax"/>.</returns>
    /// <param name="inverseTemperature">1/T for the softened sums, 1 for the cross-entropy sum.</param>
    public static float Rescale(float sum, float localMax, float sharedMax, float inverseTemperature) =>
        localMax == float.NegativeInfinity ? 0f : sum * XMath.Exp((localMax - sharedMax) * inverseTemperature);

    /// <summary>The row's loss from complete statistics: w_soft T^2 KL / N + w_hard CE / N.</summary>
    /// <param name="s">Complete row statistics.</param>
    /// <param name="studentAtLabel">z_s at the label (unused without a hard term).</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="withHard">Whether the row has a hard term.</param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Loss(in SoftmaxKLRowStats s, float studentAtLabel, in SoftmaxKLParameters p, bool withHard)
    {
        // KL_i = lse(u_s) - lse(u_t) + sum_c p_c (u_t,c - u_s,c), with lse(u) = max(z) / T + log(sum).
        float kl = (s.MaxStudent - s.MaxTeacher) * p.InverseTemperature
            + (XMath.Log(s.SumStudent) - XMath.Log(s.SumTeacher)) + s.Cross / s.SumTeacher;
        float loss = p.SoftLossScale * kl;
        if (withHard)
            loss += p.HardScale * (XMath.Log(s.SumHard) - (studentAtLabel - s.MaxHard));
        return loss;
    }

    /// <summary>Writes d loss / d z_s for columns start, start + stride, ... of one row.</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="gradient">Output, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="s">Complete row statistics.</param>
    /// <param name="label">The row's label (used only with a hard term).</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="withHard">Whether the row has a hard term.</param>
    public static void WriteGradient(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        long offset, int start, int stride, in SoftmaxKLRowStats s, int label, in SoftmaxKLParameters p, bool withHard)
    {
        float invT = p.InverseTemperature;
        float logSumS = XMath.Log(s.SumStudent);
        float logSumT = XMath.Log(s.SumTeacher);
        float logSumHard = withHard ? XMath.Log(s.SumHard) : 0f;
        for (int c = start; c < p.Classes; c += stride)
        {
            float zs = student[offset + c];
            float q = XMath.Exp((zs - s.MaxStudent) * invT - logSumS);
            float pt = XMath.Exp((teacher[offset + c] - s.MaxTeacher) * invT - logSumT);
            float g = p.SoftGradScale * (q - pt);
            if (withHard)
                g += p.HardScale * (XMath.Exp(zs - s.MaxHard - logSumHard) - (c == label ? 1f : 0f));
            gradient[offset + c] = g;
        }
    }

    /// <summary>Zeroes the gradient of a padding row (label = ignore index).</summary>
    /// <param name="gradient">Output, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    public static void ClearGradient(ArrayView<float> gradient, long offset, int start, int stride, int classes)
    {
        for (int c = start; c < classes; c += stride)
            gradient[offset + c] = 0f;
    }

    /// <summary>Classifies a row's label: 0 = counted, 1 = padding, 2 = out of range (the loss is set to NaN).</summary>
    /// <param name="label">The label.</param>
    /// <param name="p">Launch scalars.</param>
    /// <returns>The label's status.</returns>
    public static int LabelStatus(int label, in SoftmaxKLParameters p)
    {
        if (p.HasLabels == 0) return 0;
        if (label == p.IgnoreIndex) return 1;
        return label >= 0 && label < p.Classes ? 0 : 2;
    }
}
