using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The fused generalised JSD (loss-spec 1.3, scaled by T^2) on the host: the same results and rules as
/// <see cref="JensenShannonRow"/>. The endpoints beta = 0 and 1 are the host forward and reverse KL; in between,
/// log m is taken through softplus of d = log q - log p + log((1 - beta) / beta), never as a log of a sum of exps.
/// </summary>
/// <remarks>
/// Four reads of a row in cache: maxima; S_s, S_t (keeping e_s, e_t); JSD and sum q (s - s*) with s = softplus(-d);
/// the gradient (1 - beta) (T/N) q ((E_q[s] - s*) - (s - s*)), centred on the student argmax as in the kernel.
/// </remarks>
/// <param name="p">Launch scalars.</param>
internal readonly unsafe struct HostJensenShannon(JensenShannonRow p) : IHostRowLoss<HostJensenShannon, JensenShannonRow>
{
    private readonly JensenShannonRow p = p;

    /// <inheritdoc/>
    public static HostJensenShannon For(in JensenShannonRow loss) => new(loss);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(in HostRowBatch batch, int row, float* scratch)
    {
        int classes = batch.Classes;
        long offset = (long)row * classes;
        float* student = batch.Student + offset, teacher = batch.Teacher + offset, gradient = batch.Gradient + offset;
        int status = RowLabels.Status(p.HasLabels != 0 ? batch.Labels[row] : -1, p.HasLabels, p.IgnoreIndex, classes);
        if (status != RowLabels.Counted)
        {
            HostRows.Clear(gradient, classes);
            batch.RowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }
        batch.RowLoss[row] = p.Mode switch
        {
            JensenShannonMode.ForwardKL => HostSoftmaxKL.Process(student, teacher, gradient, scratch, classes, -1,
                p.InverseTemperature, p.LossScale, p.GradScale, 0f),
            JensenShannonMode.ReverseKL => HostReverseKL.Process(student, teacher, gradient, classes,
                p.InverseTemperature, p.LossScale, p.GradScale),
            _ => Mixture(student, teacher, gradient, scratch, classes),
        };
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private float Mixture(float* student, float* teacher, float* gradient, float* scratch, int classes)
    {
        if (!HostLogSoftmaxPair.Measure(student, teacher, gradient, classes, p.InverseTemperature, out HostLogSoftmaxPair logs))
            return float.NaN;
        var shift = Vector256.Create(p.LogOneMinusBeta - p.LogBeta);
        var negLogBeta = Vector256.Create(-p.LogBeta);
        var negLogOneMinusBeta = Vector256.Create(-p.LogOneMinusBeta);
        var beta = Vector256.Create(p.Beta);
        var oneMinusBeta = Vector256.Create(p.OneMinusBeta);
        var invSumS = Vector256.Create(logs.InverseSumS);

        // s* = softplus(-d) at the student argmax, by the same vector code as every column.
        Vector256<float> argmaxD = logs.LogQ(logs.StudentAtArgmax) - logs.LogP(logs.TeacherAtArgmax) + shift;
        SimdMath.Softplus(argmaxD, out _, out Vector256<float> argmaxSoftplus);

        double divergence = 0, meanAboveArgmax = 0;
        for (int block = 0; block < classes; block += HostRows.BlockLength)
        {
            int blockEnd = Math.Min(classes, block + HostRows.BlockLength);
            Vector256<float> accFirst = Vector256<float>.Zero, accSecond = accFirst;
            for (int c = block; c < blockEnd; c += SimdMath.Width)
            {
                int n = Math.Min(SimdMath.Width, blockEnd - c);
                Vector256<float> logQ = logs.LogQ(SimdMath.Load(student + c, n, logs.MaxS));
                Vector256<float> logP = logs.LogP(SimdMath.Load(teacher + c, n, 0f));
                SimdMath.Softplus(logQ - logP + shift, out Vector256<float> ofD, out Vector256<float> ofMinusD);
                Vector256<float> q = SimdMath.Load(gradient + c, n, 0f) * invSumS;
                Vector256<float> pt = SimdMath.Exp(logP);
                // Keep softplus(-d) for the gradient pass (it costs an exp and a log).
                SimdMath.Store(scratch + c, ofMinusD, n);
                accFirst += SimdMath.KeepFirst(beta * pt * (negLogBeta - ofD) + oneMinusBeta * q * (negLogOneMinusBeta - ofMinusD), n);
                accSecond += SimdMath.KeepFirst(q * (ofMinusD - argmaxSoftplus), n);
            }
            divergence += SimdMath.Sum(accFirst);
            meanAboveArgmax += SimdMath.Sum(accSecond);
        }

        // dL/dz_s = (1 - beta) (T/N) q (E_q[s] - s) = (1 - beta) (T/N) q ((E_q[s] - s*) - (s - s*)).
        var scale = Vector256.Create(p.GradScale * p.OneMinusBeta);
        var mean = Vector256.Create((float)meanAboveArgmax);
        for (int c = 0; c < classes; c += SimdMath.Width)
        {
            int n = Math.Min(SimdMath.Width, classes - c);
            Vector256<float> q = SimdMath.Load(gradient + c, n, 0f) * invSumS;
            Vector256<float> ofMinusD = SimdMath.Load(scratch + c, n, 0f);
            SimdMath.Store(gradient + c, scale * q * (mean - (ofMinusD - argmaxSoftplus)), n);
        }
        return (float)(p.LossScale * divergence);
    }
}
