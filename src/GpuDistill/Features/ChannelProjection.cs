using GpuDistill.Interop;
using TorchSharp;
using GpuDistill.Models;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// A 1x1 convolution (no bias) and batch norm that give a student feature map [B, Cs, H, W] the teacher's channel
/// count [B, Ct, H, W], for losses that compare channels one to one (FSP).
/// </summary>
public sealed class ChannelProjection : Module<Tensor, Tensor>
{
    private readonly SameConv2d conv;
    private readonly BatchNormalization2d norm;

    /// <summary>Builds the projection.</summary>
    /// <param name="studentChannels">Cs (&gt; 0).</param>
    /// <param name="teacherChannels">Ct (&gt; 0).</param>
    public ChannelProjection(long studentChannels, long teacherChannels)
        : base(nameof(ChannelProjection))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(studentChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(teacherChannels);
        // A 1x1 SameConv2d, not TorchSharp's Conv2d: libtorch's native convolution (a 1x1 one included) is several
        // times slower here, and this runs at every step of FSP. Drawn as Conv2d draws its weight (kaiming uniform,
        // a = sqrt 5: U(-1/sqrt(fan in), 1/sqrt(fan in))) from the global generator, which the caller seeds.
        conv = new SameConv2d(studentChannels, teacherChannels, (1, 1));
        double bound = 1 / Math.Sqrt(studentChannels);
        using (no_grad()) conv.weight.uniform_(-bound, bound);
        norm = new BatchNormalization2d(teacherChannels);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => norm.call(conv.call(input));

    /// <summary>
    /// This projection, for the batch <paramref name="input"/> [B, Cs, H, W], as the channel map y = W x + c that its
    /// forward applies at every position (the 1x1 convolution, then batch norm with this batch's statistics in
    /// training): W [Ct, Cs], c [Ct], without building the projected map. In training mode it updates batch norm's
    /// running statistics as the forward would. Only where <see cref="MapsAffinely"/> holds.
    /// </summary>
    /// <remarks>Why: FSP only needs the flow matrices of the projected maps, and a flow of affine maps is the affine
    /// map of the flow, so the projection can be applied to the small Cs-channel flow instead of to every position of
    /// the map. Measured in FSP's training step (small CNN, batch 128, 2 cores): 15 ms added to the student's 20 ms
    /// step instead of 19-22 ms.</remarks>
    internal (Tensor Weight, Tensor Shift) AffineMap(Tensor input)
    {
        if (!MapsAffinely(input)) throw new InvalidOperationException("This projection must run its forward for this input (see MapsAffinely).");
        long channels = input.shape[1], count = input.shape[0] * input.shape[2] * input.shape[3];
        Tensor p = conv.weight.reshape(conv.weight.shape[0], channels);
        (Tensor scale, Tensor shift) = norm.training
            ? norm.AffineMap(ProjectedMoments(p, input, out Tensor variance), variance, count)
            : norm.AffineMap(norm.RunningMean, norm.RunningVariance, count);
        return (p.mul(scale.unsqueeze(1)), shift);
    }

    /// <summary>Whether <see cref="AffineMap"/> can stand for the forward on <paramref name="input"/>: not with
    /// synchronised batch norm (its statistics span processes), nor with one value a channel in training (where the
    /// forward refuses).</summary>
    internal bool MapsAffinely(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.dim() == 4 && input.shape[1] == conv.weight.shape[1] && norm.Synchronisation is null
            && !(norm.training && input.shape[0] * input.shape[2] * input.shape[3] < 2);
    }

    /// <summary>The per-channel mean (returned) and biased variance of the map P x, from x's mean and covariance over
    /// its B H W positions: P mean and diag(P Cov P^T), in float64 and returned as float32.</summary>
    /// <remarks>Why float64: diag(P Cov P^T) sums terms of both signs, which cancel where few positions span few
    /// directions (a batch of 3 at 1x1: float32 was 4e-4 off in the gradients where batch norm over the built map is
    /// 1e-7 off); the moments are [Cs] and [Cs, Cs], so the wider type costs one conversion of x.</remarks>
    private static Tensor ProjectedMoments(Tensor p, Tensor input, out Tensor variance)
    {
        long batch = input.shape[0], channels = input.shape[1];
        Tensor rows = input.reshape(batch, channels, -1).to_type(ScalarType.Float64);
        Tensor p64 = p.to_type(ScalarType.Float64);
        Tensor mean = rows.mean([0L, 2L]);
        Tensor centred = rows.add(mean.reshape(1, channels, 1), Scalars.MinusOne);
        using Scalar perValue = (1.0 / (batch * rows.shape[2])).ToScalar(), zero = 0.0.ToScalar();
        Tensor covariance = centred.bmm(centred.transpose(1, 2)).sum(0L, keepdim: false).mul(perValue); // [Cs, Cs]
        variance = p64.mm(covariance).mul(p64).sum(1).clamp_min(zero).to_type(ScalarType.Float32);
        return p64.mv(mean).to_type(ScalarType.Float32);
    }
}
