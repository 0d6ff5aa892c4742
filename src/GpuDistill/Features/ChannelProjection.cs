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
    private readonly Module<Tensor, Tensor> conv;
    private readonly BatchNormalization2d norm;

    /// <summary>Builds the projection.</summary>
    /// <param name="studentChannels">Cs (&gt; 0).</param>
    /// <param name="teacherChannels">Ct (&gt; 0).</param>
    public ChannelProjection(long studentChannels, long teacherChannels)
        : base(nameof(ChannelProjection))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(studentChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(teacherChannels);
        conv = Conv2d(studentChannels, teacherChannels, 1, bias: false);
        norm = new BatchNormalization2d(teacherChannels);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => norm.call(conv.call(input));
}
