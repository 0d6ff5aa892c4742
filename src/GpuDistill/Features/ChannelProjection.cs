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
}
