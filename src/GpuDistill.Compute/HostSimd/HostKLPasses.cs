using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// Sums of one read of a run of columns for KL(P || Q) between softmax(z_t / T) and softmax(z_s / T), shifted by the
/// row maxima: with v = (z - max) / T and e = exp(v), S_s = sum e_s, S_t = sum e_t, A = sum e_t (v_t - v_s), and for
/// the hard cross-entropy S_hard = sum exp(z_s - max_s). KL = log S_s - log S_t + A / S_t: loss-spec 1.1's closed form
/// with the maxima cancelled analytically, so logits of 1e4 leave no large difference to round (and a row whose two
/// halves agree gives exactly 0).
/// </summary>
/// <remarks>
/// Where teacher and student barely differ, KL is ~1e-3 of the log-ratio and expectation it is the sum of, and
/// log S_s - log S_t kept the float32 rounding of each sum (4e-5 of KL at T = 20). So the sums' difference
/// D = sum (e_s - e_t) is summed too, column by column, and log(S_s / S_t) taken as log(1 + D / S_t) where the two are
/// close: then the rounding of S_t scales both alike and drops out of the ratio.
/// </remarks>
internal struct HostKLSums
{
    /// <summary>sum exp((z_s - max_s) / T).</summary>
    public double SumS;

    /// <summary>sum exp((z_t - max_t) / T).</summary>
    public double SumT;

    /// <summary>sum e_t (v_t - v_s).</summary>
    public double Weighted;

    /// <summary>sum (e_s - e_t), column by column.</summary>
    public double Difference;

    /// <summary>sum exp(z_s - max_s) (only when asked for).</summary>
    public double SumHard;

    /// <summary>KL(P || Q) from complete sums.</summary>
    /// <returns>The divergence (not scaled).</returns>
    public readonly double Divergence() => HostRows.LogRatio(SumS, SumT, Difference) + Weighted / SumT;
}

/// <summary>The two column passes the KL-shaped host losses (Hinton KD, DKD's non-target part) share.</summary>
internal static unsafe class HostKLPasses
{
    /// <summary>
    /// Adds columns [0, count) to <paramref name="sums"/>, and keeps e_s in <paramref name="expStudent"/> and e_t in
    /// <paramref name="expTeacher"/> for <see cref="WriteGradient"/>.
    /// </summary>
    /// <param name="student">First student logit of the run.</param>
    /// <param name="teacher">First teacher logit of the run.</param>
    /// <param name="expStudent">Output e_s (the gradient row, overwritten later).</param>
    /// <param name="expTeacher">Output e_t (scratch).</param>
    /// <param name="count">Columns in the run (may be 0).</param>
    /// <param name="maxS">Student max the exponents are taken from.</param>
    /// <param name="maxT">Teacher max the exponents are taken from.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="withHard">Whether to gather S_hard.</param>
    /// <param name="sums">Running sums.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Accumulate(float* student, float* teacher, float* expStudent, float* expTeacher, int count,
        float maxS, float maxT, float inverseTemperature, bool withHard, ref HostKLSums sums)
    {
        var invT = Vector256.Create(inverseTemperature);
        var vMaxS = Vector256.Create(maxS);
        var vMaxT = Vector256.Create(maxT);
        for (int block = 0; block < count; block += HostRows.BlockLength)
        {
            int blockEnd = Math.Min(count, block + HostRows.BlockLength);
            Vector256<float> accS = Vector256<float>.Zero, accT = accS, accD = accS, accW = accS, accH = accS;
            for (int c = block; c < blockEnd; c += SimdMath.Width)
            {
                int n = Math.Min(SimdMath.Width, blockEnd - c);
                Vector256<float> zs = SimdMath.Load(student + c, n, maxS);
                Vector256<float> zt = SimdMath.Load(teacher + c, n, maxT);
                Vector256<float> vs = (zs - vMaxS) * invT;
                Vector256<float> vt = (zt - vMaxT) * invT;
                Vector256<float> es = SimdMath.Exp(vs);
                Vector256<float> et = SimdMath.Exp(vt);
                SimdMath.Store(expStudent + c, es, n);
                SimdMath.Store(expTeacher + c, et, n);
                accS += SimdMath.KeepFirst(es, n);
                accT += SimdMath.KeepFirst(et, n);
                accD += SimdMath.KeepFirst(es - et, n);
                accW += SimdMath.KeepFirst(et * (vt - vs), n);
                if (withHard) accH += SimdMath.KeepFirst(SimdMath.Exp(zs - vMaxS), n);
            }
            sums.SumS += SimdMath.Sum(accS);
            sums.SumT += SimdMath.Sum(accT);
            sums.Difference += SimdMath.Sum(accD);
            sums.Weighted += SimdMath.Sum(accW);
            if (withHard) sums.SumHard += SimdMath.Sum(accH);
        }
    }

    /// <summary>
    /// Writes gradient = e_s studentScale - e_t teacherScale (+ hardScale softmax(z_s) when asked) over columns
    /// [0, count), reading e_s from the gradient row itself and e_t from <paramref name="expTeacher"/>.
    /// </summary>
    /// <param name="gradient">The run's gradient, holding e_s on entry.</param>
    /// <param name="expTeacher">The run's e_t.</param>
    /// <param name="student">The run's student logits (read only for the hard term).</param>
    /// <param name="count">Columns in the run (may be 0).</param>
    /// <param name="studentScale">Multiplies e_s (e.g. gradScale / S_s).</param>
    /// <param name="teacherScale">Multiplies e_t (e.g. gradScale / S_t).</param>
    /// <param name="maxS">Student max (hard term).</param>
    /// <param name="hardOverSum">hardScale / S_hard, or 0 for no hard term.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WriteGradient(float* gradient, float* expTeacher, float* student, int count,
        float studentScale, float teacherScale, float maxS, float hardOverSum)
    {
        bool withHard = hardOverSum != 0f;
        var sScale = Vector256.Create(studentScale);
        var tScale = Vector256.Create(teacherScale);
        var vMaxS = Vector256.Create(maxS);
        var hard = Vector256.Create(hardOverSum);
        for (int c = 0; c < count; c += SimdMath.Width)
        {
            int n = Math.Min(SimdMath.Width, count - c);
            Vector256<float> es = SimdMath.Load(gradient + c, n, 0f);
            Vector256<float> et = SimdMath.Load(expTeacher + c, n, 0f);
            Vector256<float> g = es * sScale - et * tScale;
            if (withHard) g += SimdMath.Exp(SimdMath.Load(student + c, n, maxS) - vMaxS) * hard;
            SimdMath.Store(gradient + c, g, n);
        }
    }
}
