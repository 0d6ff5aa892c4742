using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.BatchNormStatistics;

/// <summary>
/// Host side of the batch-norm statistics kernels on one accelerator: places the layers in the concatenated input,
/// checks the views, and runs the two launches (<see cref="BatchNormStatisticsKernels"/>). A device keeps one per
/// accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class BatchNormStatisticsLauncher : IKernelSet<BatchNormStatisticsLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>>> statisticsPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>>> statisticsPerGroup;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> gradientPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>> gradientPerGroup;

    private BatchNormStatisticsLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        statisticsPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>>(BatchNormStatisticsKernels.StatisticsPerThread));
        statisticsPerGroup = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<BatchNormLayer>,
            ArrayView<int>, ArrayView<float>>(BatchNormStatisticsKernels.StatisticsPerGroup));
        gradientPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<BatchNormLayer>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(
            BatchNormStatisticsKernels.GradientPerThread));
        gradientPerGroup = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<BatchNormLayer>,
            ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>>(BatchNormStatisticsKernels.GradientPerGroup));
    }

    /// <inheritdoc/>
    public static BatchNormStatisticsLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new BatchNormStatisticsLauncher(accelerator);
    }

    /// <summary>
    /// The layout <see cref="RowLayout.Auto"/> stands for (a "row" is one channel here): a thread per channel on the
    /// CPU accelerator, whose simulated group barriers are slow, a group per channel on GPUs, where a channel's N
    /// values (B*H*W, thousands) would otherwise be summed by one thread.
    /// </summary>
    /// <param name="layout">The requested layout.</param>
    /// <returns>A concrete layout.</returns>
    public RowLayout Resolve(RowLayout layout) =>
        layout != RowLayout.Auto ? layout
        : accelerator.AcceleratorType == AcceleratorType.CPU ? RowLayout.RowPerThread : RowLayout.RowPerGroup;

    /// <summary>
    /// Places <paramref name="layers"/> one after another in the concatenated input and their channels one after
    /// another in the per-channel values, and checks the view lengths.
    /// </summary>
    /// <param name="layers">The layers' shapes and weights, in order.</param>
    /// <returns>The placed layers, and K, their channels in all.</returns>
    /// <exception cref="ArgumentException">No layer, a layer with a dimension below 1, a negative or non-finite weight,
    /// or sizes beyond the kernels' int indexing.</exception>
    public static (BatchNormLayer[] Placed, int Channels) Place(IReadOnlyList<BatchNormLayer> layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count == 0) throw new ArgumentException("At least one batch-norm layer is needed.", nameof(layers));
        var placed = new BatchNormLayer[layers.Count];
        long offset = 0, channels = 0;
        for (int l = 0; l < layers.Count; l++)
        {
            BatchNormLayer layer = layers[l];
            if (layer.Batch <= 0 || layer.Channels <= 0 || layer.Spatial <= 0)
                throw new ArgumentException($"Layer {l} has shape [{layer.Batch}, {layer.Channels}, {layer.Spatial}]; every dimension must be positive.", nameof(layers));
            if ((long)layer.Batch * layer.Spatial > int.MaxValue)
                throw new ArgumentException($"Layer {l} has {(long)layer.Batch * layer.Spatial} values per channel; at most 2^31 - 1.", nameof(layers));
            if (!float.IsFinite(layer.Weight) || layer.Weight < 0)
                throw new ArgumentException($"Layer {l} has weight {layer.Weight}; it must be finite and >= 0.", nameof(layers));
            placed[l] = layer.Placed(offset, (int)Math.Min(channels, int.MaxValue));
            offset += layer.Elements;
            channels += layer.Channels;
        }
        // 4 K per-channel values must be indexable with int.
        if (channels > int.MaxValue / 4)
            throw new ArgumentException($"The layers have {channels} channels in all; at most {int.MaxValue / 4}.", nameof(layers));
        return (placed, (int)channels);
    }

    /// <summary>
    /// Runs both launches and synchronises: per-channel statistics into <paramref name="values"/>, each layer's
    /// weighted loss into <paramref name="layerLoss"/> (the loss is their sum), d loss / d input into
    /// <paramref name="gradient"/>.
    /// </summary>
    /// <param name="input">All layers' inputs [B, C, H, W] flattened and concatenated in order.</param>
    /// <param name="layers">The layers' shapes and weights, in order (placed by <see cref="Place"/>).</param>
    /// <param name="values">Per-channel values [4 K] (<see cref="ChannelValues"/>): the running mean and variance
    /// parts filled by the caller; the batch mean and variance parts are written.</param>
    /// <param name="gradient">Output d loss / d input, like <paramref name="input"/>.</param>
    /// <param name="layerLoss">Output, each layer's weighted loss, [L].</param>
    /// <param name="layout">Thread layout (a "row" is a channel); <see cref="RowLayout.Auto"/> picks per accelerator.</param>
    public void Run(ArrayView<float> input, IReadOnlyList<BatchNormLayer> layers, ArrayView<float> values,
        ArrayView<float> gradient, ArrayView<float> layerLoss, RowLayout layout = RowLayout.Auto)
    {
        (BatchNormLayer[] placed, int channels) = Place(layers);
        long elements = placed[^1].Offset + placed[^1].Elements;
        RequireLength(input, elements, nameof(input));
        RequireLength(gradient, elements, nameof(gradient));
        RequireLength(values, 4L * channels, nameof(values));
        RequireLength(layerLoss, placed.Length, nameof(layerLoss));

        var channelLayer = new int[channels];
        foreach ((BatchNormLayer layer, int l) in placed.Select((layer, l) => (layer, l)))
            Array.Fill(channelLayer, l, layer.FirstChannel, layer.Channels);

        using MemoryBuffer1D<BatchNormLayer, Stride1D.Dense> layerBuffer = accelerator.Allocate1D(placed);
        using MemoryBuffer1D<int, Stride1D.Dense> channelBuffer = accelerator.Allocate1D(channelLayer);
        if (Resolve(layout) == RowLayout.RowPerThread)
        {
            statisticsPerThread.Value(channels, input, layerBuffer.View, channelBuffer.View, values);
            gradientPerThread.Value(channels, input, layerBuffer.View, channelBuffer.View, values, gradient, layerLoss);
        }
        else
        {
            KernelConfig config = GroupGrid.PerItem(accelerator, channels);
            statisticsPerGroup.Value(config, input, layerBuffer.View, channelBuffer.View, values);
            gradientPerGroup.Value(config, input, layerBuffer.View, channelBuffer.View, values, gradient, layerLoss);
        }
        accelerator.Synchronize();
    }

    private static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }
}
