using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>
/// Base of every fused loss: its forward runs one kernel launch that yields both the loss and d loss / d student,
/// saves the gradient, and its backward only scales it by the upstream gradient. The teacher (second tensor
/// argument) never receives a gradient.
/// </summary>
/// <typeparam name="TSelf">The concrete function (TorchSharp keeps one instance per type).</typeparam>
internal abstract class FusedLossFunction<TSelf> : autograd.SingleTensorFunction<TSelf>
    where TSelf : FusedLossFunction<TSelf>, new()
{
    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        (Tensor loss, Tensor gradient) = Compute(vars);
        ctx.save_for_backward([gradient]);
        return loss;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        Tensor gradient = ctx.get_saved_variables()[0];
        // One entry per tensor argument: the student gets the gradient, the teacher none.
        return [gradient.mul(grad_output), null!];
    }

    /// <summary>Runs the fused kernel: vars are (student, teacher, request).</summary>
    /// <param name="vars">The arguments given to <c>apply</c>.</param>
    /// <returns>The scalar loss and the gradient with respect to the student, shaped like the student.</returns>
    protected abstract (Tensor Loss, Tensor Gradient) Compute(object[] vars);
}
