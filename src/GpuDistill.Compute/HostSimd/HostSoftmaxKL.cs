using System.Runtime.CompilerServices;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The fused softened-softmax KL (Hinton KD plus optional hard-label cross-entropy) on the host, eight columns at a
/// time: the same loss, gradient, label and padding rules as <see cref="SoftmaxKLRow"/> (loss-spec 1.1).
/// </summary>
/// <remarks>
/// Three reads of a row that stays in cache, one of main memory: the maxima; the sums, which also keep
/// exp((z_s - max) / T) in the gradient row and exp((z_t - max) / T) in the scratch row; the gradient
/// gradScale (e_s / S_s - e_t / S_t), which then needs no exp at all. Two exps per element, four with the hard term.
/// </remarks>
/// <param name="p">Launch scalars.</param>
internal readonly unsafe struct HostSoftmaxKL(SoftmaxKLRow p) : IHostRowLoss<HostSoftmaxKL, SoftmaxKLRow>
{
    private readonly SoftmaxKLRow p = p;

    /// <inheritdoc/>
    public static HostSoftmaxKL For(in SoftmaxKLRow loss) => new(loss);

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Row(in HostRowBatch batch, int row, float* scratch)
    {
        int classes = batch.Classes;
        long offset = (long)row * classes;
        float* student = batch.Student + offset, teacher = batch.Teacher + offset, gradient = batch.Gradient + offset;
        int label = p.HasLabels != 0 ? batch.Labels[row] : -1;
        int status = RowLabels.Status(label, p.HasLabels, p.IgnoreIndex, classes);
        if (status != RowLabels.Counted)
        {
            HostRows.Clear(gradient, classes);
            batch.RowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }
        batch.RowLoss[row] = Process(student, teacher, gradient, scratch, classes, label, p.InverseTemperature,
            p.SoftLossScale, p.SoftGradScale, p.HardScale);
    }

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(p || q) + hardScale CE, gradient gradScale (q - p) +
    /// hardScale (softmax(z_s) - onehot). Also the beta = 0 endpoint of JSD. A row holding NaN or infinity gets NaN.
    /// </summary>
    /// <param name="student">The row's student logits.</param>
    /// <param name="teacher">The row's teacher logits.</param>
    /// <param name="gradient">The row's gradient (output).</param>
    /// <param name="scratch">C floats of scratch.</param>
    /// <param name="classes">C.</param>
    /// <param name="label">The row's label (used only when <paramref name="hardScale"/> is not 0).</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL (w T^2 / N).</param>
    /// <param name="gradScale">Multiplies q - p (w T / N).</param>
    /// <param name="hardScale">Multiplies the cross-entropy and its gradient (w_hard / N); 0 for none.</param>
    /// <returns>The row's share of the batch loss.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Process(float* student, float* teacher, float* gradient, float* scratch, int classes,
        int label, float inverseTemperature, float lossScale, float gradScale, float hardScale)
    {
        if (!HostRows.MaxPair(student, teacher, classes, out float maxS, out float maxT)) return float.NaN;
        bool withHard = hardScale != 0f;
        var sums = default(HostKLSums);
        HostKLPasses.Accumulate(student, teacher, gradient, scratch, classes, maxS, maxT, inverseTemperature, withHard, ref sums);

        // KL_i = lse(u_s) - lse(u_t) + sum_c p_c (u_t,c - u_s,c), with u = z / T; the row's scalars in double.
        double loss = lossScale * sums.Divergence();
        if (withHard) loss += hardScale * (Math.Log(sums.SumHard) - ((double)student[label] - maxS));

        HostKLPasses.WriteGradient(gradient, scratch, student, classes, (float)(gradScale / sums.SumS),
            (float)(gradScale / sums.SumT), maxS, withHard ? (float)(hardScale / sums.SumHard) : 0f);
        if (withHard) gradient[label] -= hardScale;
        return (float)loss;
    }
}
