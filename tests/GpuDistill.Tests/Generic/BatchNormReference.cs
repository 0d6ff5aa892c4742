using static TorchSharp.torch;

namespace GpuDistill.Tests.Generic;

/// <summary>
/// Batch norm of [B, C, H, W] written out with elementwise ops, in the input's precision (float64 for references):
/// not libtorch's batch_norm, whose CPU backward is wrong at batch 1 for some layouts of the incoming gradient, in
/// float32 and float64 alike (seen in libtorch 2.10: the bias gradient, which is only the gradient's per-channel sum,
/// 20% off).
/// </summary>
public static class BatchNormReference
{
    /// <summary>y = (x - mean) / sqrt(var + eps) * weight + bias, with this batch's mean and biased variance in training
    /// (updating the running statistics in place, the unbiased variance into <paramref name="runningVar"/>), the
    /// running ones in eval.</summary>
    public static Tensor Apply(Tensor x, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias, bool training,
        double momentum = 0.1, double eps = 1e-5)
    {
        Tensor mean = runningMean, variance = runningVar;
        if (training)
        {
            mean = x.mean([0L, 2L, 3L]);
            variance = x.var([0L, 2L, 3L], unbiased: false);
            long count = x.numel() / x.shape[1];
            using var noGrad = no_grad();
            runningMean.mul_(1 - momentum).add_(mean.detach().mul(momentum));
            runningVar.mul_(1 - momentum).add_(variance.detach().mul(momentum * count / (count - 1.0)));
        }
        Tensor y = x.sub(mean.reshape(1, -1, 1, 1)).div(variance.add(eps).sqrt().reshape(1, -1, 1, 1));
        if (weight is not null) y = y.mul(weight.reshape(1, -1, 1, 1));
        if (bias is not null) y = y.add(bias.reshape(1, -1, 1, 1));
        return y;
    }
}
