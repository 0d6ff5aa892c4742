using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The identity forward, whose backward scales the incoming gradient down to a norm of at most the given bound
/// (<c>tf.clip_by_norm</c>): how MHGD's term keeps its gradient at a layer no larger than cross-entropy's there.
/// </summary>
internal sealed class GradientNormClip : autograd.SingleTensorFunction<GradientNormClip>
{
    private const string BoundKey = "bound";

    /// <inheritdoc/>
    public override string Name => nameof(GradientNormClip);

    /// <summary>Applies the clip to <paramref name="input"/>.</summary>
    /// <param name="input">The tensor whose gradient is clipped.</param>
    /// <param name="bound">The largest norm its gradient may have, &gt;= 0.</param>
    /// <returns>A copy of <paramref name="input"/> on the clipped path.</returns>
    public static Tensor Clip(Tensor input, double bound) => apply(input, bound);

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        ctx.save_data(BoundKey, (double)vars[1]);
        return ((Tensor)vars[0]).clone();
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        double bound = (double)ctx.get_data(BoundKey);
        using Scalar boundScalar = bound.ToScalar();
        using Scalar tiny = 1e-30.ToScalar();
        using Scalar one = 1.0.ToScalar();
        using Tensor norm = grad_output.norm();
        using Tensor scale = norm.clamp_min(tiny).reciprocal().mul(boundScalar).clamp_max(one);
        return [grad_output.mul(scale), null!];
    }
}
