namespace GpuDistill.Kernels.BatchNormStatistics;

/// <summary>
/// One batch-norm layer's input as the statistics kernels see it: its shape [B, C, H*W], its weight in the summed
/// loss, and where it sits in the concatenated inputs and channels of one launch (set by
/// <see cref="BatchNormStatisticsLauncher"/>).
/// </summary>
public readonly struct BatchNormLayer
{
    /// <summary>Describes a layer's input [B, C, H, W] and its weight; the launcher places it.</summary>
    /// <param name="batch">B.</param>
    /// <param name="channels">C, the layer's channels.</param>
    /// <param name="spatial">H*W.</param>
    /// <param name="weight">w_l, its weight in the summed loss.</param>
    public BatchNormLayer(int batch, int channels, int spatial, float weight)
    {
        Batch = batch;
        Channels = channels;
        Spatial = spatial;
        Weight = weight;
    }

    private BatchNormLayer(in BatchNormLayer shape, long offset, int firstChannel)
        : this(shape.Batch, shape.Channels, shape.Spatial, shape.Weight)
    {
        Offset = offset;
        FirstChannel = firstChannel;
    }

    /// <summary>B.</summary>
    public int Batch { get; }

    /// <summary>C.</summary>
    public int Channels { get; }

    /// <summary>H*W.</summary>
    public int Spatial { get; }

    /// <summary>w_l.</summary>
    public float Weight { get; }

    /// <summary>Index of the layer's first element in the concatenated inputs.</summary>
    public long Offset { get; }

    /// <summary>Index of the layer's first channel among all layers' channels.</summary>
    public int FirstChannel { get; }

    /// <summary>N = B*H*W, the values each channel's statistics are taken over.</summary>
    public int Count => Batch * Spatial;

    /// <summary>B*C*H*W.</summary>
    public long Elements => (long)Batch * Channels * Spatial;

    /// <summary>Index of value <paramref name="index"/> (in [0, N), batch-major) of channel <paramref name="channel"/>.</summary>
    /// <param name="channel">The channel within the layer.</param>
    /// <param name="index">b * H*W + (h*W + w).</param>
    /// <returns>Its index in the concatenated inputs.</returns>
    public long Address(int channel, int index)
    {
        int b = index / Spatial;
        return Offset + ((long)b * Channels + channel) * Spatial + (index - b * Spatial);
    }

    /// <summary>This layer placed at <paramref name="offset"/> and <paramref name="firstChannel"/>.</summary>
    internal BatchNormLayer Placed(long offset, int firstChannel) => new(this, offset, firstChannel);
}
