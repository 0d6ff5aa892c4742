using TorchSharp;
using GpuDistill.Interop;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// Batch normalisation of [B, C, H, W] maps, with the state of <c>torch.nn.BatchNorm2d</c> under the same names
/// (weight, bias, running_mean, running_var, num_batches_tracked), so checkpoints are interchangeable.
/// </summary>
/// <remarks>
/// Used instead of TorchSharp's BatchNorm2d, whose training forward counts batches with
/// <c>num_batches_tracked.add_(1)</c>: a temporary Scalar that the garbage collector may free while libtorch reads it
/// (see <see cref="Scalars"/>). Seen here as "Expected false to be true" from c10::Scalar::toLong, and as "For
/// integral input tensors, argument alpha must not be a floating point" when the freed memory was reused, once per
/// few thousand steps. This one counts with a Scalar that lives as long as the process.
/// </remarks>
public sealed class BatchNormalization2d : Module<Tensor, Tensor>
{
    private readonly Parameter? weight;
    private readonly Parameter? bias;
    private readonly Tensor runningMean;
    private readonly Tensor runningVar;
    private readonly Tensor batchesTracked;
    private readonly double eps;
    private readonly double momentum;

    /// <summary>Creates the layer with weight 1, bias 0 and running statistics 0 and 1.</summary>
    /// <param name="features">Channels C.</param>
    /// <param name="eps">Added to the variance.</param>
    /// <param name="momentum">Weight of the batch statistics in the running ones.</param>
    /// <param name="affine">Whether it has a learned weight and bias (<c>affine=False</c> in PyTorch has neither,
    /// and no such state entries).</param>
    public BatchNormalization2d(long features, double eps = 1e-5, double momentum = 0.1, bool affine = true)
        : base("BatchNorm2d")
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(features);
        Features = features;
        this.eps = eps;
        this.momentum = momentum;
        runningMean = zeros(features);
        runningVar = ones(features);
        batchesTracked = zeros(1, ScalarType.Int64).squeeze();
        if (affine)
        {
            weight = new Parameter(ones(features));
            bias = new Parameter(zeros(features));
            register_parameter("weight", weight);
            register_parameter("bias", bias);
        }
        register_buffer("running_mean", runningMean);
        register_buffer("running_var", runningVar);
        register_buffer("num_batches_tracked", batchesTracked);
    }

    /// <summary>Channels C.</summary>
    public long Features { get; }

    /// <summary>The running mean [C] (the registered buffer itself, not a copy).</summary>
    public Tensor RunningMean => runningMean;

    /// <summary>The running variance [C] (the registered buffer itself, not a copy).</summary>
    public Tensor RunningVariance => runningVar;

    /// <summary>The constant added to the variance (the ONNX export writes it).</summary>
    public double Epsilon => eps;

    /// <summary>Whether the layer has a learned weight and bias.</summary>
    public bool Affine => weight is not null;

    /// <summary>Statistics shared with other processes in training mode (synchronised batch norm); null (the default)
    /// for this batch's own.</summary>
    public IBatchNormSynchronisation? Synchronisation { get; set; }

    /// <summary>Weight 1, bias 0, running statistics 0 and 1, no batches counted.</summary>
    public void ResetParameters()
    {
        using var noGrad = no_grad();
        weight?.fill_(Scalars.One);
        bias?.zero_();
        runningMean.zero_();
        runningVar.fill_(Scalars.One);
        batchesTracked.zero_();
    }

    /// <summary>
    /// This layer as the per-channel affine map y = scale x + shift that its forward applies to an input whose
    /// per-channel batch mean and biased variance are <paramref name="mean"/> and <paramref name="variance"/> over
    /// <paramref name="count"/> values a channel; in training mode it updates the running statistics and the batch
    /// count as the forward would (the unbiased variance into running_var). For callers that know a layer's input
    /// moments without building the input (FSP's projected flows).
    /// </summary>
    /// <returns>scale = weight / sqrt(var + eps) and shift = bias - scale mean [C] (batch statistics in training,
    /// running ones in eval), differentiable in the weight, bias and the given moments.</returns>
    internal (Tensor Scale, Tensor Shift) AffineMap(Tensor mean, Tensor variance, long count)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(variance);
        if (training)
        {
            using var noGrad = no_grad();
            batchesTracked.add_(Scalars.OneInteger, alpha: Scalars.OneInteger);
            using Scalar keep = (1 - momentum).ToScalar(), take = momentum.ToScalar(), unbias = (momentum * count / (count - 1.0)).ToScalar();
            runningMean.mul_(keep).add_(mean.detach(), alpha: take);
            runningVar.mul_(keep).add_(variance.detach(), alpha: unbias);
        }
        Tensor center = training ? mean : runningMean, spread = training ? variance : runningVar;
        using Scalar epsilon = eps.ToScalar();
        Tensor scale = spread.add(epsilon).rsqrt();
        if (weight is not null) scale = scale.mul(weight);
        Tensor shift = center.mul(scale).neg();
        if (bias is not null) shift = shift.add(bias, Scalars.One);
        return (scale, shift);
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 4 || input.shape[1] != Features)
            throw new ArgumentException($"BatchNorm2d({Features}) expects [B, {Features}, H, W]; got [{string.Join(", ", input.shape)}].", nameof(input));
        if (input.shape[0] == 1 && !(training && Synchronisation is not null))
        {
            // libtorch 2.10's CPU batch_norm returns a wrong input gradient for a batch of one, in training and in eval,
            // whenever the gradient reaches it through some views (seen here: 92% and 168% off where the same
            // gradient through a transposed view was right; FSP's projected stage 2 at batch 1, 126% off). The same
            // normalisation as an explicit per-channel affine map is right, and a batch of one is rare enough that
            // its cost does not matter.
            long count = input.shape[2] * input.shape[3];
            if (training && count < 2)
                throw new ArgumentException($"BatchNorm2d({Features}) in training needs more than one value a channel; got [{string.Join(", ", input.shape)}].", nameof(input));
            (Tensor scale, Tensor shift) = training
                ? AffineMap(input.mean([0L, 2L, 3L]), input.var([0L, 2L, 3L], unbiased: false), count)
                : AffineMap(runningMean, runningVar, count);
            return input.mul(scale.reshape(1, -1, 1, 1)).add(shift.reshape(1, -1, 1, 1), Scalars.One);
        }
        if (training)
        {
            using var noGrad = no_grad();
            batchesTracked.add_(Scalars.OneInteger, alpha: Scalars.OneInteger);
        }
        if (training && Synchronisation is not null)
            return Synchronisation.Normalise(input, runningMean, runningVar, weight, bias, momentum, eps);
        return functional.batch_norm(input, runningMean, runningVar, weight, bias, training, momentum, eps);
    }
}
