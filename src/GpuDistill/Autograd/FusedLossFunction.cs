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
    private const string ArityKey = "arity";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        (Tensor loss, Tensor gradient) = Compute(vars);
        ctx.save_for_backward([gradient]);
        ctx.save_data(ArityKey, vars.Length);
        return loss;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        Tensor gradient = ctx.get_saved_variables()[0];
        int arity = (int)ctx.get_data(ArityKey);
        // TorchSharp wants one entry per argument of apply: the student gets the gradient, the rest (teacher,
        // request) none.
        var gradients = new List<Tensor>(arity) { gradient.mul(grad_output) };
        for (int i = 1; i < arity; i++) gradients.Add(null!);
        return gradients;
    }

    /// <summary>Runs the fused kernel: vars are (student, teacher, request).</summary>
    /// <param name="vars">The arguments given to <c>apply</c>.</param>
    /// <returns>The scalar loss and the gradient with respect to the student, shaped like the student.</returns>
    protected abstract (Tensor Loss, Tensor Gradient) Compute(object[] vars);
}
