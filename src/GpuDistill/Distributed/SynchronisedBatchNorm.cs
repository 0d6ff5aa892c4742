using System.Runtime.InteropServices;
using GpuDistill.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Distributed;

/// <summary>
/// Batch norm over the whole data-parallel batch: each process sums its maps per channel (sum, sum of squares,
/// count), one allreduce makes the whole batch's sums, and the mean and biased variance come from them. The backward
/// pass sums the gradients of those sums the same way, so every process gets the gradient one process would.
/// </summary>
/// <param name="group">The processes.</param>
internal sealed class SynchronisedBatchNorm(IProcessGroup group) : IBatchNormSynchronisation
{
    /// <inheritdoc/>
    public Tensor Normalise(Tensor input, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias, double momentum, double eps)
    {
        ArgumentNullException.ThrowIfNull(input);
        long channels = input.shape[1];
        long[] perChannel = [0, 2, 3];
        using Tensor count = full(1, input.shape[0] * input.shape[2] * input.shape[3], dtype: ScalarType.Float32);
        Tensor sums = AllreduceSumFunction.apply(cat([input.sum(perChannel), input.square().sum(perChannel), count]), group);
        Tensor n = sums.narrow(0, 2 * channels, 1);
        Tensor mean = sums.narrow(0, 0, channels).div(n);
        Tensor variance = sums.narrow(0, channels, channels).div(n).sub(mean.square());
        double total = n.item<float>();
        using (no_grad())
        {
            using Scalar keep = (1 - momentum).ToScalar();
            using Scalar take = momentum.ToScalar();
            using Scalar unbiased = (momentum * total / Math.Max(1, total - 1)).ToScalar();
            runningMean.mul_(keep).add_(mean, alpha: take);
            runningVar.mul_(keep).add_(variance, alpha: unbiased);
        }
        using Scalar epsilon = eps.ToScalar();
        Tensor scale = variance.add(epsilon).rsqrt();
        if (weight is not null) scale = scale.mul(weight);
        Tensor output = input.sub(mean.view(1, channels, 1, 1)).mul(scale.view(1, channels, 1, 1));
        return bias is null ? output : output.add(bias.view(1, channels, 1, 1));
    }
}

/// <summary>y = the sum over the processes of x; the gradient of x is the sum over the processes of the gradient of y.</summary>
internal sealed class AllreduceSumFunction : autograd.SingleTensorFunction<AllreduceSumFunction>
{
    private const string GroupKey = "group";

    /// <inheritdoc/>
    public override string Name => "GpuDistill.AllreduceSum";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var group = (IProcessGroup)vars[1];
        ctx.save_data(GroupKey, group);
        return Summed(((Tensor)vars[0]).detach(), group);
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        return [Summed(grad_output, (IProcessGroup)ctx.get_data(GroupKey)), null!];
    }

    private static Tensor Summed(Tensor values, IProcessGroup group)
    {
        Tensor copy = values.to_type(ScalarType.Float32).contiguous().clone();
        group.AllreduceSum(MemoryMarshal.Cast<byte, float>(copy.bytes));
        return copy;
    }
}
