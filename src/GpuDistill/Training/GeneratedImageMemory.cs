using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// A ring buffer of generated images with the teacher's logits for them (the data pool of CMI, Fang et al. 2021, and
/// Fast-DFKD, Fang et al. 2022): the student learns on random draws from everything the generator made lately, not
/// only its latest batch, so it keeps what earlier generator states showed it, and a draw costs no generator or
/// teacher pass. When full, the oldest images are overwritten first.
/// </summary>
public sealed class GeneratedImageMemory : IDisposable
{
    private readonly Tensor images;
    private readonly Tensor logits;
    private int next;

    /// <summary>An empty memory for <paramref name="capacity"/> images of <paramref name="imageShape"/>.</summary>
    /// <param name="capacity">Images kept (&gt; 0).</param>
    /// <param name="imageShape">[C, H, W] of one image.</param>
    /// <param name="classes">Logits per image.</param>
    public GeneratedImageMemory(int capacity, IReadOnlyList<long> imageShape, int classes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        ArgumentNullException.ThrowIfNull(imageShape);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classes);
        Capacity = capacity;
        images = zeros([capacity, .. imageShape]);
        logits = zeros(capacity, classes);
    }

    /// <summary>Images the memory holds at most.</summary>
    public int Capacity { get; }

    /// <summary>Images it holds now.</summary>
    public int Count { get; private set; }

    /// <summary>Stores a batch (copied, detached), overwriting the oldest images once full.</summary>
    /// <param name="batchImages">[B, C, H, W], the memory's image shape.</param>
    /// <param name="batchLogits">The teacher's logits [B, classes] for them.</param>
    /// <exception cref="ArgumentException">A shape does not match the memory's.</exception>
    public void Add(Tensor batchImages, Tensor batchLogits)
    {
        ArgumentNullException.ThrowIfNull(batchImages);
        ArgumentNullException.ThrowIfNull(batchLogits);
        if (batchImages.dim() != images.dim() || !batchImages.shape.Skip(1).SequenceEqual(images.shape.Skip(1)))
            throw new ArgumentException($"batchImages is {TensorChecks.Shape(batchImages)}; the memory holds [B, {string.Join(", ", images.shape.Skip(1))}].", nameof(batchImages));
        if (batchLogits.dim() != 2 || batchLogits.shape[0] != batchImages.shape[0] || batchLogits.shape[1] != logits.shape[1])
            throw new ArgumentException($"batchLogits is {TensorChecks.Shape(batchLogits)}; expected [{batchImages.shape[0]}, {logits.shape[1]}].", nameof(batchLogits));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        int count = (int)batchImages.shape[0];
        // Of a batch larger than the memory only its last Capacity images stay; a batch that runs past the end wraps.
        for (int from = Math.Max(0, count - Capacity); from < count;)
        {
            int length = Math.Min(count - from, Capacity - next);
            images.narrow(0, next, length).copy_(batchImages.narrow(0, from, length));
            logits.narrow(0, next, length).copy_(batchLogits.narrow(0, from, length));
            next = (next + length) % Capacity;
            Count = Math.Min(Capacity, Count + length);
            from += length;
        }
    }

    /// <summary>Draws <paramref name="batch"/> stored images uniformly with replacement, with their logits.</summary>
    /// <param name="batch">B &gt; 0.</param>
    /// <param name="random">The draw's random stream.</param>
    /// <returns>Images [B, C, H, W] and logits [B, classes], new tensors.</returns>
    public (Tensor Images, Tensor Logits) Sample(int batch, TorchSharp.torch.Generator random)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        if (Count == 0) throw new InvalidOperationException("The generated-image memory is empty: add a batch before drawing from it.");
        using Tensor rows = randint(0, Count, [batch], dtype: ScalarType.Int64, generator: random);
        return (images.index_select(0, rows), logits.index_select(0, rows));
    }

    /// <summary>Writes the held images, their logits and the ring's position.</summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(Capacity);
        writer.Write(Count);
        writer.Write(next);
        foreach (Tensor t in new[] { images, logits })
        {
            float[] values = t.narrow(0, 0, Count).contiguous().data<float>().ToArray();
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
    }

    /// <summary>Restores what <see cref="Save"/> wrote.</summary>
    /// <exception cref="InvalidDataException">The file was written for another capacity.</exception>
    public void Load(BinaryReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        int capacity = reader.ReadInt32();
        if (capacity != Capacity)
            throw new InvalidDataException($"The saved generated-image memory holds {capacity} images; this run's holds {Capacity} (the memory setting changed).");
        Count = reader.ReadInt32();
        next = reader.ReadInt32();
        foreach (Tensor t in Count == 0 ? [] : new[] { images, logits })
        {
            long length = Count * (t.numel() / Capacity);
            float[] values = new float[length];
            reader.BaseStream.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
            using Tensor saved = tensor(values).reshape([Count, .. t.shape.Skip(1)]);
            using var _ = no_grad();
            t.narrow(0, 0, Count).copy_(saved);
        }
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        images.Dispose();
        logits.Dispose();
    }
}
