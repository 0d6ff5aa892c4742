using System.Runtime.InteropServices;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// What a loss term derives from the teacher's outputs one image at a time (MHGD's singular vectors of the teacher's
/// layers), kept per training image once computed. With the teacher's outputs cached, the teacher sees each image
/// once and its layers are the same every epoch, so the derived rows are too; recomputing them every step is work
/// for nothing. A batch whose images are all kept is gathered; any other batch is computed whole, and its cached
/// images are kept. A batch computed live by the teacher (augmentation, generated images) is always computed.
/// </summary>
/// <remarks>
/// Rows are float32, kept in managed memory (224 floats an image for MHGD on teacher-cnn: 49 MB for 55,000 images;
/// 10,240 for FSP's two flow matrices: 2.3 GB), in one array: images past its largest length (about 2.1e9 floats) are
/// computed every time.
/// The cache holds the rows of one teacher cache at a time: given another, it starts again.
/// </remarks>
public sealed class TeacherDerivedCache
{
    private readonly long maxFloats;
    private object? cache;
    private long[]? rowShape;
    private long rowSize;
    private float[] rows = [];
    private bool[] kept = [];

    /// <summary>A cache whose rows may fill one managed array.</summary>
    public TeacherDerivedCache()
        : this(Array.MaxLength)
    {
    }

    /// <summary>A cache that keeps at most <paramref name="maxFloats"/> floats (tests use a small bound).</summary>
    internal TeacherDerivedCache(long maxFloats) => this.maxFloats = maxFloats;

    /// <summary>How many batches were gathered from the kept rows, and how many computed.</summary>
    public (long Gathered, long Computed) Batches { get; private set; }

    /// <summary>The derived rows [B, ...] of <paramref name="examples"/>' images: kept ones, or
    /// <paramref name="compute"/>'s (float32, one row per image, each row a function of its image alone).</summary>
    /// <param name="examples">The batch's images when the teacher's outputs come from a cache; null when they do not.</param>
    /// <param name="compute">Derives the rows from this batch's teacher outputs.</param>
    /// <returns>The rows, in the caller's dispose scope, without autograd history.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="compute"/> returned rows of another count, type or
    /// shape than before.</exception>
    public Tensor GetOrCompute(TeacherExamples? examples, Func<Tensor> compute)
    {
        ArgumentNullException.ThrowIfNull(compute);
        if (examples is null) return Computed(compute, null);
        if (!ReferenceEquals(examples.Cache, cache))
        {
            (cache, rowShape, rowSize, rows, kept) = (examples.Cache, null, 0, [], []);
        }
        IReadOnlyList<int> indices = examples.Indices;
        if (rowShape is not null && AllKept(indices)) return Gather(indices);
        Tensor computed = Computed(compute, indices.Count);
        Keep(indices, computed);
        return computed;
    }

    private Tensor Computed(Func<Tensor> compute, int? count)
    {
        Batches = (Batches.Gathered, Batches.Computed + 1);
        Tensor computed;
        using (no_grad()) computed = compute().detach();
        if (computed.dtype != ScalarType.Float32 || computed.dim() < 1 || (count is { } n && computed.shape[0] != n))
        {
            throw new InvalidOperationException(
                $"A teacher-derived value must be float32 with one row per image ({count} images); got {computed.dtype} [{string.Join(", ", computed.shape)}].");
        }
        return computed;
    }

    private bool AllKept(IReadOnlyList<int> indices)
    {
        foreach (int i in indices)
        {
            if (i < 0 || i >= kept.Length || !kept[i]) return false;
        }
        return true;
    }

    private Tensor Gather(IReadOnlyList<int> indices)
    {
        Batches = (Batches.Gathered + 1, Batches.Computed);
        return TeacherOutputs.GatherRows(rows, rowShape!, indices);
    }

    private void Keep(IReadOnlyList<int> indices, Tensor computed)
    {
        long[] shape = [.. computed.shape.Skip(1)];
        if (rowShape is null)
        {
            rowShape = shape;
            rowSize = shape.Aggregate(1L, (a, b) => a * b);
        }
        else if (!rowShape.SequenceEqual(shape))
        {
            throw new InvalidOperationException(
                $"A teacher-derived row was [{string.Join(", ", rowShape)}] and is now [{string.Join(", ", shape)}] for the same teacher cache.");
        }
        int top = indices.Count == 0 ? -1 : indices.Max();
        if (top >= kept.Length)
        {
            long length = Math.Max(top + 1, kept.Length * 2L);
            // One managed array holds the rows: past its largest length, images beyond it are computed every time.
            if (length * rowSize > maxFloats) length = maxFloats / rowSize;
            if (length > kept.Length)
            {
                Array.Resize(ref kept, (int)length);
                Array.Resize(ref rows, (int)(length * rowSize));
            }
        }
        using Tensor dense = computed.contiguous();
        ReadOnlySpan<float> values = MemoryMarshal.Cast<byte, float>(dense.bytes);
        int size = (int)rowSize;
        for (int i = 0; i < indices.Count; i++)
        {
            if (indices[i] < 0 || indices[i] >= kept.Length) continue;
            values.Slice(i * size, size).CopyTo(rows.AsSpan(indices[i] * size, size));
            kept[indices[i]] = true;
        }
    }
}
