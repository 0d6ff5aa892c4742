using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// log q = log softmax(z_s / T) and log p = log softmax(z_t / T) of one row, eight columns at a time, and the student
/// argmax with the teacher logit there: the host form of the kernels' LogSoftmaxPair, for the losses whose terms are
/// not linear in the softmax weights (reverse KL, JSD). Measuring also keeps e_s = exp((z_s - max) / T) in the
/// gradient row, so q = e_s / S_s later costs no exp.
/// </summary>
internal readonly struct HostLogSoftmaxPair
{
    private readonly Vector256<float> maxS, maxT, logSumS, logSumT, invT;

    private HostLogSoftmaxPair(float maxS, float maxT, float logSumS, float logSumT, float inverseTemperature,
        float studentAtArgmax, float teacherAtArgmax, double sumS, double logSumRatio)
    {
        this.maxS = Vector256.Create(maxS);
        this.maxT = Vector256.Create(maxT);
        this.logSumS = Vector256.Create(logSumS);
        this.logSumT = Vector256.Create(logSumT);
        invT = Vector256.Create(inverseTemperature);
        StudentAtArgmax = Vector256.Create(studentAtArgmax);
        TeacherAtArgmax = Vector256.Create(teacherAtArgmax);
        InverseSumS = (float)(1 / sumS);
        MaxS = maxS;
        LogSumRatio = logSumRatio;
    }

    /// <summary>The row's largest student logit, in every lane.</summary>
    public Vector256<float> StudentAtArgmax { get; }

    /// <summary>The teacher logit in the column of the student's first largest logit, in every lane.</summary>
    public Vector256<float> TeacherAtArgmax { get; }

    /// <summary>1 / S_s: q = e_s / S_s.</summary>
    public float InverseSumS { get; }

    /// <summary>The row max of the student logits.</summary>
    public float MaxS { get; }

    /// <summary>
    /// log(S_t / S_s) in double, from the column-by-column difference of the sums where they are close
    /// (<see cref="HostRows.LogRatio"/>): log q - log p = log(S_t / S_s) - d with d = <see cref="Gap"/>, and no
    /// float32 log-sum-exp near log C rounds into it.
    /// </summary>
    public double LogSumRatio { get; }

    /// <summary>
    /// Reads the row: maxima and argmax, then S_s (keeping e_s in <paramref name="expStudent"/>) and S_t. False when
    /// the row holds NaN or infinity.
    /// </summary>
    /// <param name="student">The row's student logits.</param>
    /// <param name="teacher">The row's teacher logits.</param>
    /// <param name="expStudent">Output e_s, [C].</param>
    /// <param name="classes">C.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="logs">The row's log-softmax.</param>
    /// <returns>True for a finite row.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe bool Measure(float* student, float* teacher, float* expStudent, int classes,
        float inverseTemperature, out HostLogSoftmaxPair logs)
    {
        logs = default;
        if (!HostRows.MaxPair(student, teacher, classes, out float maxS, out float maxT)) return false;
        int argmax = HostRows.FirstIndexOf(student, classes, maxS);
        var invT = Vector256.Create(inverseTemperature);
        var vMaxS = Vector256.Create(maxS);
        var vMaxT = Vector256.Create(maxT);
        double sumS = 0, sumT = 0, difference = 0;
        for (int block = 0; block < classes; block += HostRows.BlockLength)
        {
            int blockEnd = Math.Min(classes, block + HostRows.BlockLength);
            Vector256<float> accS = Vector256<float>.Zero, accT = accS, accD = accS;
            for (int c = block; c < blockEnd; c += SimdMath.Width)
            {
                int n = Math.Min(SimdMath.Width, blockEnd - c);
                Vector256<float> es = SimdMath.Exp((SimdMath.Load(student + c, n, maxS) - vMaxS) * invT);
                Vector256<float> et = SimdMath.Exp((SimdMath.Load(teacher + c, n, maxT) - vMaxT) * invT);
                SimdMath.Store(expStudent + c, es, n);
                accS += SimdMath.KeepFirst(es, n);
                accT += SimdMath.KeepFirst(et, n);
                accD += SimdMath.KeepFirst(et - es, n);
            }
            sumS += SimdMath.Sum(accS);
            sumT += SimdMath.Sum(accT);
            difference += SimdMath.Sum(accD);
        }
        logs = new HostLogSoftmaxPair(maxS, maxT, (float)Math.Log(sumS), (float)Math.Log(sumT), inverseTemperature,
            maxS, teacher[argmax], sumS, HostRows.LogRatio(sumT, sumS, difference));
        return true;
    }

    /// <summary>log q per lane: (z_s - max) / T - log S_s.</summary>
    /// <param name="zs">Raw student logits.</param>
    /// <returns>log q.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> LogQ(Vector256<float> zs) => (zs - maxS) * invT - logSumS;

    /// <summary>
    /// d = v_t - v_s per lane with v = (z - max) / T: log q - log p = <see cref="LogSumRatio"/> - d, without the
    /// rounding of log q and log p (each near -log C).
    /// </summary>
    /// <param name="zs">Raw student logits.</param>
    /// <param name="zt">Raw teacher logits.</param>
    /// <returns>d.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Gap(Vector256<float> zs, Vector256<float> zt) => (zt - maxT) * invT - (zs - maxS) * invT;

    /// <summary>log p per lane: (z_t - max) / T - log S_t.</summary>
    /// <param name="zt">Raw teacher logits.</param>
    /// <returns>log p.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> LogP(Vector256<float> zt) => (zt - maxT) * invT - logSumT;
}
