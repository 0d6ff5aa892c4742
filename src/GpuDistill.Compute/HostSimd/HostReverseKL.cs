using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The fused reverse KL, T^2 KL(q_s || p_t) (loss-spec 1.2), on the host: the same results and rules as
/// <see cref="ReverseKLRow"/>, and the same argmax-centred sums, so the gradient keeps its relative accuracy where q
/// is one-hot to float precision (r - r* = d* - d is exactly 0 at the argmax, computed by the same vector code). The
/// log-normalisers enter only as log(S_t / S_s) in double (<see cref="HostLogSoftmaxPair.LogSumRatio"/>), so the
/// loss keeps its relative accuracy where teacher and student barely differ.
/// </summary>
/// <remarks>
/// Four reads of a row in cache: maxima; S_s and S_t (keeping e_s); KL - r* = sum q (r - r*); the gradient
/// gradScale q ((r - r*) - (KL - r*)). Two exps per element.
/// </remarks>
/// <param name="p">Launch scalars.</param>
internal readonly unsafe struct HostReverseKL(ReverseKLRow p) : IHostRowLoss<HostReverseKL, ReverseKLRow>
{
    private readonly ReverseKLRow p = p;

    /// <inheritdoc/>
    public static HostReverseKL For(in ReverseKLRow loss) => new(loss);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(in HostRowBatch batch, int row, float* scratch)
    {
        int classes = batch.Classes;
        long offset = (long)row * classes;
        float* gradient = batch.Gradient + offset;
        int status = RowLabels.Status(p.HasLabels != 0 ? batch.Labels[row] : -1, p.HasLabels, p.IgnoreIndex, classes);
        if (status != RowLabels.Counted)
        {
            HostRows.Clear(gradient, classes);
            batch.RowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }
        batch.RowLoss[row] = Process(batch.Student + offset, batch.Teacher + offset, gradient, classes,
            p.InverseTemperature, p.LossScale, p.GradScale);
    }

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(q || p), gradient gradScale q (r - KL). Also the beta = 1
    /// endpoint of JSD. A row holding NaN or infinity gets NaN.
    /// </summary>
    /// <param name="student">The row's student logits.</param>
    /// <param name="teacher">The row's teacher logits.</param>
    /// <param name="gradient">The row's gradient (output).</param>
    /// <param name="classes">C.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL(q || p) (T^2 / N).</param>
    /// <param name="gradScale">Multiplies q (r - KL) (T / N).</param>
    /// <returns>The row's share of the batch loss.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Process(float* student, float* teacher, float* gradient, int classes, float inverseTemperature,
        float lossScale, float gradScale)
    {
        if (!HostLogSoftmaxPair.Measure(student, teacher, gradient, classes, inverseTemperature, out HostLogSoftmaxPair logs))
            return float.NaN;
        // r = log q - log p = log(S_t / S_s) - d, so r - r* = d* - d: no log-normaliser rounds into the sums.
        Vector256<float> argmaxGap = logs.Gap(logs.StudentAtArgmax, logs.TeacherAtArgmax);
        var invSumS = Vector256.Create(logs.InverseSumS);

        double klAboveArgmax = 0;
        for (int block = 0; block < classes; block += HostRows.BlockLength)
        {
            int blockEnd = Math.Min(classes, block + HostRows.BlockLength);
            Vector256<float> acc = Vector256<float>.Zero;
            for (int c = block; c < blockEnd; c += SimdMath.Width)
            {
                int n = Math.Min(SimdMath.Width, blockEnd - c);
                Vector256<float> q = SimdMath.Load(gradient + c, n, 0f) * invSumS;
                Vector256<float> d = logs.Gap(SimdMath.Load(student + c, n, 0f), SimdMath.Load(teacher + c, n, 0f));
                acc += SimdMath.KeepFirst(q * (argmaxGap - d), n);
            }
            klAboveArgmax += SimdMath.Sum(acc);
        }

        var scale = Vector256.Create(gradScale);
        var kl = Vector256.Create((float)klAboveArgmax);
        for (int c = 0; c < classes; c += SimdMath.Width)
        {
            int n = Math.Min(SimdMath.Width, classes - c);
            Vector256<float> q = SimdMath.Load(gradient + c, n, 0f) * invSumS;
            Vector256<float> d = logs.Gap(SimdMath.Load(student + c, n, 0f), SimdMath.Load(teacher + c, n, 0f));
            SimdMath.Store(gradient + c, scale * q * ((argmaxGap - d) - kl), n);
        }
        // KL = r* + sum q (r - r*) with r* = log(S_t / S_s) - d*, in double.
        return (float)(lossScale * (logs.LogSumRatio - argmaxGap.ToScalar() + klAboveArgmax));
    }
}
