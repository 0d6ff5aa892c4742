using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.BatchNormStatistics;

/// <summary>
/// DeepInversion's batch-norm statistics loss over every BN layer in two launches (loss-spec-2 7.2): the first takes
/// each channel's mean and biased variance over batch and space of its layer's input; the second takes each layer's
/// distances ||var - var_run||_2 + ||mu - mu_run||_2 (not squared), writes the layer's weighted loss, and the gradient
/// (w/N) (2 g_v (a - mu) + g_m) with g = (stat - run) / max(norm, 1e-12). All layers' inputs are concatenated, and a
/// channel (of any layer) is a thread or a group, as a row is in the row losses.
/// </summary>
/// <remarks>
/// <para>
/// Per-channel values live in one view of 4 K floats for K channels in all: the batch mean, the biased batch variance
/// (both written by the first launch), the running mean and the running variance (<see cref="ChannelValues"/>).
/// </para>
/// <para>
/// The cross-channel norms need every channel's statistics, which a grid cannot wait for inside one launch; instead
/// each channel of the second launch sums its own layer's C squared differences (C reads, small beside its N values),
/// so no third launch and no grid-wide step is needed.
/// </para>
/// </remarks>
public static class BatchNormStatisticsKernels
{
    /// <summary>Guards the norms' gradient when the statistics match exactly (0/0).</summary>
    public const float NormFloor = 1e-12f;

    /// <summary>Channel statistics, one thread per channel.</summary>
    /// <param name="channel">The channel among all layers' channels.</param>
    /// <param name="input">All layers' inputs, concatenated.</param>
    /// <param name="layers">The layers, placed.</param>
    /// <param name="channelLayer">Each channel's layer.</param>
    /// <param name="values">Per-channel values [4 K]; the mean and variance parts are written.</param>
    public static void StatisticsPerThread(Index1D channel, ArrayView<float> input, ArrayView<BatchNormLayer> layers,
        ArrayView<int> channelLayer, ArrayView<float> values) =>
        Statistics<ThreadOwnsRow>(channel, 0, 1, input, layers, channelLayer, values);

    /// <summary>Channel statistics, one group per channel (grid-striding over channels).</summary>
    /// <param name="input">All layers' inputs, concatenated.</param>
    /// <param name="layers">The layers, placed.</param>
    /// <param name="channelLayer">Each channel's layer.</param>
    /// <param name="values">Per-channel values [4 K]; the mean and variance parts are written.</param>
    public static void StatisticsPerGroup(ArrayView<float> input, ArrayView<BatchNormLayer> layers,
        ArrayView<int> channelLayer, ArrayView<float> values)
    {
        // The loop bound is the same for every thread of a group, so the reductions inside stay uniform.
        for (int channel = Grid.IdxX; channel < channelLayer.IntLength; channel += Grid.DimX)
            Statistics<GroupSharesRow>(channel, Group.IdxX, Group.DimX, input, layers, channelLayer, values);
    }

    /// <summary>Layer losses and the gradient, one thread per channel.</summary>
    /// <param name="channel">The channel among all layers' channels.</param>
    /// <param name="input">All layers' inputs, concatenated.</param>
    /// <param name="layers">The layers, placed.</param>
    /// <param name="channelLayer">Each channel's layer.</param>
    /// <param name="values">Per-channel values [4 K].</param>
    /// <param name="gradient">Output d loss / d input, concatenated like the input.</param>
    /// <param name="layerLoss">Output, each layer's weighted loss.</param>
    public static void GradientPerThread(Index1D channel, ArrayView<float> input, ArrayView<BatchNormLayer> layers,
        ArrayView<int> channelLayer, ArrayView<float> values, ArrayView<float> gradient, ArrayView<float> layerLoss) =>
        Gradient<ThreadOwnsRow>(channel, 0, 1, input, layers, channelLayer, values, gradient, layerLoss);

    /// <summary>Layer losses and the gradient, one group per channel (grid-striding over channels).</summary>
    /// <param name="input">All layers' inputs, concatenated.</param>
    /// <param name="layers">The layers, placed.</param>
    /// <param name="channelLayer">Each channel's layer.</param>
    /// <param name="values">Per-channel values [4 K].</param>
    /// <param name="gradient">Output d loss / d input, concatenated like the input.</param>
    /// <param name="layerLoss">Output, each layer's weighted loss.</param>
    public static void GradientPerGroup(ArrayView<float> input, ArrayView<BatchNormLayer> layers,
        ArrayView<int> channelLayer, ArrayView<float> values, ArrayView<float> gradient, ArrayView<float> layerLoss)
    {
        for (int channel = Grid.IdxX; channel < channelLayer.IntLength; channel += Grid.DimX)
            Gradient<GroupSharesRow>(channel, Group.IdxX, Group.DimX, input, layers, channelLayer, values, gradient, layerLoss);
    }

    private static void Statistics<TCombine>(int channel, int start, int stride, ArrayView<float> input,
        ArrayView<BatchNormLayer> layers, ArrayView<int> channelLayer, ArrayView<float> values)
        where TCombine : struct, IRowCombine
    {
        BatchNormLayer layer = layers[channelLayer[channel]];
        int c = channel - layer.FirstChannel;
        int count = layer.Count;
        // Two passes (mean, then centred squares), each summed in blocks: the one-pass sum of squares would lose the
        // variance of a channel whose mean is large beside its spread.
        float sum = RowSweep.Accumulate<float, ChannelTerms>(new ChannelTerms(input, layer, c, 0f, false), 0, start, stride, count);
        float mu = default(TCombine).Sum(sum) / count;
        float squares = RowSweep.Accumulate<float, ChannelTerms>(new ChannelTerms(input, layer, c, mu, true), 0, start, stride, count);
        float var = default(TCombine).Sum(squares) / count;
        if (start == 0)
        {
            var at = new ChannelValues(channelLayer.IntLength);
            values[ChannelValues.Mean(channel)] = mu;
            values[at.Variance(channel)] = var;
        }
    }

    private static void Gradient<TCombine>(int channel, int start, int stride, ArrayView<float> input,
        ArrayView<BatchNormLayer> layers, ArrayView<int> channelLayer, ArrayView<float> values,
        ArrayView<float> gradient, ArrayView<float> layerLoss)
        where TCombine : struct, IRowCombine
    {
        var at = new ChannelValues(channelLayer.IntLength);
        int layerIndex = channelLayer[channel];
        BatchNormLayer layer = layers[layerIndex];

        // The layer's two distances, from all its channels' statistics.
        float varianceSquares = 0f, meanSquares = 0f;
        for (int c = start; c < layer.Channels; c += stride)
        {
            int k = layer.FirstChannel + c;
            float dv = values[at.Variance(k)] - values[at.RunningVariance(k)];
            float dm = values[ChannelValues.Mean(k)] - values[at.RunningMean(k)];
            varianceSquares += dv * dv;
            meanSquares += dm * dm;
        }
        float varianceNorm = XMath.Sqrt(default(TCombine).Sum(varianceSquares));
        float meanNorm = XMath.Sqrt(default(TCombine).Sum(meanSquares));
        if (channel == layer.FirstChannel && start == 0)
            layerLoss[layerIndex] = layer.Weight * (varianceNorm + meanNorm);

        int count = layer.Count;
        float perValue = layer.Weight / count;
        float mu = values[ChannelValues.Mean(channel)];
        float slope = perValue * 2f * (values[at.Variance(channel)] - values[at.RunningVariance(channel)])
            / XMath.Max(varianceNorm, NormFloor);
        float shift = perValue * (mu - values[at.RunningMean(channel)]) / XMath.Max(meanNorm, NormFloor);
        int c0 = channel - layer.FirstChannel;
        for (int j = start; j < count; j += stride)
        {
            long address = layer.Address(c0, j);
            gradient[address] = slope * (input[address] - mu) + shift;
        }
    }
}

/// <summary>Where each per-channel value sits in the [4 K] view: mean, variance, running mean, running variance.</summary>
/// <param name="channels">K, the channels of all layers.</param>
public readonly struct ChannelValues(int channels)
{
    private readonly int channels = channels;

    /// <summary>Index of channel k's batch mean.</summary>
    /// <param name="k">The channel.</param>
    /// <returns>k.</returns>
    public static int Mean(int k) => k;

    /// <summary>Index of channel k's biased batch variance.</summary>
    /// <param name="k">The channel.</param>
    /// <returns>K + k.</returns>
    public int Variance(int k) => channels + k;

    /// <summary>Index of channel k's running mean.</summary>
    /// <param name="k">The channel.</param>
    /// <returns>2 K + k.</returns>
    public int RunningMean(int k) => 2 * channels + k;

    /// <summary>Index of channel k's running variance.</summary>
    /// <param name="k">The channel.</param>
    /// <returns>3 K + k.</returns>
    public int RunningVariance(int k) => 3 * channels + k;
}

/// <summary>The values of one channel of one layer: x - centre, or its square, per value.</summary>
/// <param name="input">All layers' inputs, concatenated.</param>
/// <param name="layer">The channel's layer.</param>
/// <param name="channel">The channel within the layer.</param>
/// <param name="centre">Subtracted from each value.</param>
/// <param name="squared">Whether to square the difference.</param>
internal readonly struct ChannelTerms(ArrayView<float> input, BatchNormLayer layer, int channel, float centre, bool squared)
    : IRowTerms<float>
{
    private readonly ArrayView<float> input = input;
    private readonly BatchNormLayer layer = layer;
    private readonly int channel = channel;
    private readonly float centre = centre;
    private readonly bool squared = squared;

    /// <inheritdoc/>
    public float Empty => 0f;

    /// <inheritdoc/>
    public void Add(ref float sums, long index, int column)
    {
        float x = input[layer.Address(channel, column)] - centre;
        sums += squared ? x * x : x;
    }

    /// <inheritdoc/>
    public void Merge(ref float total, in float part) => total += part;
}
