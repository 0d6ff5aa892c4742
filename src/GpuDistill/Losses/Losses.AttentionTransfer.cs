using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Autograd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Attention transfer (Zagoruyko and Komodakis, "Paying More Attention to Attention", ICLR 2017; loss-spec 2.2)
    /// between one student and one teacher feature map, per layer: the distance between their attention maps
    /// a = normalize(sum or mean over channels of |f|^p).
    /// </summary>
    /// <remarks>
    /// <para>
    /// <see cref="AttentionTransferForm.Code"/> (the default, as in RepDistiller and mdistiller): maps from the channel
    /// mean, loss = mean over B*H*W of (a_s - a_t)^2; those codes use f^p, which equals |f|^p for the default p = 2,
    /// and |f|^p is used for every p. <see cref="AttentionTransferForm.Paper"/> (torchdistill's mode 'paper'): maps
    /// from the channel sum, loss = (1/B) sum_b ||a_s,b - a_t,b||_2, not squared, with gradient 0 where the two maps
    /// are equal. The normalisation is F.normalize's v / max(||v||, 1e-12), so an all-zero example gives a finite loss
    /// and gradient. Sum the result over layers and weight it (beta = 1000 in the references).
    /// </para>
    /// <para>
    /// Student and teacher may differ in channels and in spatial size. When the sizes differ, the larger feature is
    /// shrunk with adaptive_avg_pool2d to the smaller one before the kernels (as RepDistiller does), each of H and W
    /// to the smaller of the two, and autograd carries the gradient back through the student's pooling. Computed by
    /// fused kernels (on a host <c>simd</c> device by <see cref="AttentionTransferComposite"/>, libtorch's ops, which are
    /// faster there); <c>loss.backward()</c> gives the student its gradient times the upstream gradient, and the
    /// teacher nothing.
    /// </para>
    /// </remarks>
    /// <param name="student">Student feature [B, Cs, Hs, Ws], float32, CPU.</param>
    /// <param name="teacher">Teacher feature [B, Ct, Ht, Wt], float32, CPU (never receives a gradient).</param>
    /// <param name="p">The exponent of |f|^p, finite and &gt; 0 (default 2).</param>
    /// <param name="form">Which loss (default the code form).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor AttentionTransfer(Tensor student, Tensor teacher, double p = 2,
        AttentionTransferForm form = AttentionTransferForm.Code, ComputeDevice? device = null)
    {
        TensorChecks.RequireFeaturePair(student, nameof(student), teacher, nameof(teacher));
        TensorChecks.RequireExponent(p, nameof(p));
        RequireForm(form, nameof(form));

        using var scope = NewDisposeScope();
        (Tensor s, Tensor t) = PoolToCommonSize(student, teacher);
        ComputeDevice target = device ?? ComputeDevice.Default;
        if (target.UsesHostSimd) return AttentionTransferComposite.Loss(s, t, p, form).MoveToOuterDisposeScope();
        var parameters = new AttentionTransferParameters((int)s.shape[0], (int)s.shape[1], (int)t.shape[1],
            (int)(s.shape[2] * s.shape[3]), (float)p, form);
        var request = new AttentionTransferRequest(target, parameters);
        return AttentionTransferFunction.apply(s, t, request).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The attention map of a feature (loss-spec 2.2): a[b] = normalize(sum or mean over channels of |f[b]|^p) over the
    /// H*W positions, as a differentiable tensor [B, H*W] computed by the same kernels as
    /// <see cref="AttentionTransfer"/>; <c>backward()</c> through it runs the map's backward kernels.
    /// </summary>
    /// <param name="feature">Feature [B, C, H, W], float32, CPU.</param>
    /// <param name="p">The exponent of |f|^p, finite and &gt; 0 (default 2).</param>
    /// <param name="form">Channel mean (code, the default) or channel sum (paper); they differ only in the scale of
    /// maps whose norm is below 1e-12.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>The maps, [B, H*W] float32, each row of unit norm (or zero).</returns>
    public static Tensor AttentionMap(Tensor feature, double p = 2, AttentionTransferForm form = AttentionTransferForm.Code,
        ComputeDevice? device = null)
    {
        (int batch, int channels, int height, int width) = TensorChecks.RequireFeature(feature, nameof(feature));
        TensorChecks.RequireExponent(p, nameof(p));
        RequireForm(form, nameof(form));

        ComputeDevice target = device ?? ComputeDevice.Default;
        using var scope = NewDisposeScope();
        if (target.UsesHostSimd) return AttentionTransferComposite.Map(feature, p, form).MoveToOuterDisposeScope();
        var parameters = new AttentionMapParameters(batch, channels, height * width, (float)p, form);
        return AttentionMapFunction.apply(feature, new AttentionMapRequest(target, parameters))
            .MoveToOuterDisposeScope();
    }

    private static void RequireForm(AttentionTransferForm form, string name)
    {
        if (!Enum.IsDefined(form))
            throw new ArgumentOutOfRangeException(name, form, $"{name} must be {nameof(AttentionTransferForm.Code)} or {nameof(AttentionTransferForm.Paper)}.");
    }
}
