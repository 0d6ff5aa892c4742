using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace GpuDistill.Data;

/// <summary>
/// Cuts an <see cref="ImageDataset"/> into batches of normalised CPU tensors: images float32 [B, 1, H, W] with
/// pixel/255 mapped to (x - mean) / std, and labels int64 [B]. The last batch keeps the remainder, so every image
/// appears once per epoch. Order and augmentation depend only on (seed, epoch), so runs can be repeated exactly.
/// </summary>
public sealed class ImageBatcher : Training.IBatchSource
{
    private readonly ImageDataset dataset;
    private readonly float[] normalised = new float[256];

    /// <summary>Prepares batching; nothing is allocated per image until batches are asked for.</summary>
    /// <param name="dataset">The images.</param>
    /// <param name="batchSize">Images per batch (the last batch may have fewer).</param>
    /// <param name="options">Order, normalisation and augmentation; null for the defaults (no shuffle, no augmentation).</param>
    public ImageBatcher(ImageDataset dataset, int batchSize, BatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        options ??= new BatchOptions();
        if (!float.IsFinite(options.Mean))
            throw new ArgumentException($"Mean must be finite; got {options.Mean}.", nameof(options));
        if (!float.IsFinite(options.Std) || options.Std <= 0)
            throw new ArgumentException($"Std must be finite and > 0; got {options.Std}.", nameof(options));
        this.dataset = dataset;
        BatchSize = batchSize;
        Options = options;
        // Pixels are bytes, so a 256-entry table does the normalisation with one load per pixel.
        for (int v = 0; v < 256; v++) normalised[v] = (v / 255f - options.Mean) / options.Std;
    }

    /// <summary>Images per batch.</summary>
    public int BatchSize { get; }

    /// <summary>The options in force.</summary>
    public BatchOptions Options { get; }

    /// <summary>Batches per epoch, counting the last partial one.</summary>
    public int BatchCount => (dataset.Count + BatchSize - 1) / BatchSize;

    /// <summary>The order in which <paramref name="epoch"/> visits the dataset: a permutation of its indices.</summary>
    public int[] Order(int epoch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        int[] order = new int[dataset.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        if (Options.Shuffle) SeededRandom.For(Options.Seed, epoch, stream: 0).Shuffle(order);
        return order;
    }

    /// <summary>
    /// The batches of one epoch, made lazily as the enumeration reaches them. Each batch belongs to the caller, who
    /// must dispose it; batches not yet reached when the enumeration stops are never made.
    /// </summary>
    /// <param name="epoch">The epoch number (0 or more); it selects the order and the augmentation draws.</param>
    public IEnumerable<ImageBatch> Epoch(int epoch)
    {
        int[] order = Order(epoch);
        return Batches(order, epoch);
    }

    private IEnumerable<ImageBatch> Batches(int[] order, int epoch)
    {
        // A separate stream, so switching augmentation on or off leaves the order as it was.
        SeededRandom? augmentRandom = Options.Augmentation == ImageAugmentation.None
            ? null
            : SeededRandom.For(Options.Seed, epoch, stream: 1);
        for (int start = 0; start < order.Length; start += BatchSize)
        {
            int count = Math.Min(BatchSize, order.Length - start);
            yield return Make(order.AsSpan(start, count), augmentRandom);
        }
    }

    private ImageBatch Make(ReadOnlySpan<int> indices, SeededRandom? augmentRandom)
    {
        int h = dataset.Height, w = dataset.Width, size = h * w;
        // Written straight into the tensors' native memory: a managed array per batch would land on the large-object
        // heap, which the GC collects rarely, and grow the process by gigabytes over a run.
        Tensor x = empty([indices.Length, 1, h, w]);
        try
        {
            Tensor y = empty([indices.Length], ScalarType.Int64);
            Span<float> images = MemoryMarshal.Cast<byte, float>(x.bytes);
            Span<long> labels = MemoryMarshal.Cast<byte, long>(y.bytes);
            for (int i = 0; i < indices.Length; i++)
            {
                Span<float> target = images.Slice(i * size, size);
                ReadOnlySpan<byte> source = dataset.Image(indices[i]);
                if (augmentRandom is null) Normalise(source, target);
                else Augment(source, target, h, w, augmentRandom);
                labels[i] = dataset.Label(indices[i]);
            }
            return new ImageBatch(x, y, indices.ToArray());
        }
        catch
        {
            x.Dispose();
            throw;
        }
    }

    private void Normalise(ReadOnlySpan<byte> source, Span<float> target)
    {
        float[] table = normalised;
        for (int p = 0; p < source.Length; p++) target[p] = table[source[p]];
    }

    private void Augment(ReadOnlySpan<byte> source, Span<float> target, int h, int w, SeededRandom random) =>
        ImageMove.Draw(Options.Augmentation, random).Apply<float>(source, target, h, w, normalised);
}
