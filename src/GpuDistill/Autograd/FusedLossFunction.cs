using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>
/// Base of every fused loss: its forward runs the kernels that yield both the loss and the gradients with respect to
/// the inputs that learn, saves those gradients, and its backward only scales them by the upstream gradient. Losses
/// with one student input derive from <see cref="FusedLossFunction{TSelf}"/>; this base also serves losses with
/// several (FSP's two layers) or whose second input learns too (RepDistiller's correlation congruence embeddings).
/// </summary>
/// <typeparam name="TSelf">The concrete function (TorchSharp keeps one instance per type).</typeparam>
internal abstract class FusedGradientsFunction<TSelf> : autograd.SingleTensorFunction<TSelf>
    where TSelf : FusedGradientsFunction<TSelf>, new()
{
    private const string ArityKey = "arity";
    private const string PositionsKey = "positions";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        (Tensor loss, IReadOnlyList<Tensor?> gradients) = ComputeGradients(vars);
        var saved = new List<Tensor>();
        var positions = new List<int>();
        for (int i = 0; i < gradients.Count; i++)
        {
            if (gradients[i] is not Tensor g) continue;
            saved.Add(g);
            positions.Add(i);
        }
        ctx.save_for_backward(saved);
        ctx.save_data(ArityKey, vars.Length);
        ctx.save_data(PositionsKey, positions.ToArray());
        return loss;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        List<Tensor> saved = ctx.get_saved_variables();
        int arity = (int)ctx.get_data(ArityKey);
        var positions = (int[])ctx.get_data(PositionsKey);
        // TorchSharp wants one entry per argument of apply: the inputs that learn get their gradient, the rest
        // (teacher, request) none.
        var gradients = new List<Tensor>(arity);
        for (int i = 0; i < arity; i++) gradients.Add(null!);
        // An upstream gradient of exactly 1 (a loss backpropagated on its own, the common case) hands the saved gradient
        // over as it is: no second pass over [B, C] and no new buffer. The saved tensor stays referenced here, so
        // libtorch copies rather than accumulates into it.
        bool unit = grad_output.numel() == 1 && grad_output.dtype == ScalarType.Float32 && grad_output.item<float>() == 1f;
        for (int k = 0; k < positions.Length; k++) gradients[positions[k]] = unit ? saved[k] : saved[k].mul(grad_output);
        return gradients;
    }

    /// <summary>Runs the fused kernels.</summary>
    /// <param name="vars">The arguments given to <c>apply</c>.</param>
    /// <returns>
    /// The scalar loss and, by argument position, the gradient of each input that learns (null, or a shorter list,
    /// for those that do not), each shaped like its input.
    /// </returns>
    protected abstract (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars);
}

/// <summary>
/// A fused loss with one student input: vars are (student, teacher, request); the student gets the kernel's
/// gradient times the upstream gradient, the teacher (second tensor argument) never receives one.
/// </summary>
/// <typeparam name="TSelf">The concrete function (TorchSharp keeps one instance per type).</typeparam>
internal abstract class FusedLossFunction<TSelf> : FusedGradientsFunction<TSelf>
    where TSelf : FusedLossFunction<TSelf>, new()
{
    /// <summary>Runs the fused kernel: vars are (student, teacher, request).</summary>
    /// <param name="vars">The arguments given to <c>apply</c>.</param>
    /// <returns>The scalar loss and the gradient with respect to the student, shaped like the student.</returns>
    protected abstract (Tensor Loss, Tensor Gradient) Compute(object[] vars);

    /// <inheritdoc/>
    protected sealed override (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars)
    {
        (Tensor loss, Tensor gradient) = Compute(vars);
        return (loss, [gradient]);
    }
}
