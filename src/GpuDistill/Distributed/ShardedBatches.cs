using GpuDistill.Data;
using GpuDistill.Training;

namespace GpuDistill.Distributed;

/// <summary>
/// One process's share of every batch of a run: rank r of P takes the r-th of P contiguous slices of each global
/// batch (equal when the batch divides by P; the first ranks take one image more otherwise, e.g. in an epoch's last,
/// shorter batch). Every process reads the same global batches, so order and augmentation stay the run's own.
/// </summary>
/// <param name="global">The run's batches.</param>
/// <param name="rank">This process's rank.</param>
/// <param name="size">The number of processes.</param>
internal sealed class ShardedBatches(IBatchSource global, int rank, int size) : IBatchSource
{
    /// <inheritdoc/>
    public int BatchCount => global.BatchCount;

    /// <summary>The size of the global batch the last shard came from.</summary>
    public int LastGlobalCount { get; private set; }

    /// <inheritdoc/>
    public IEnumerable<ImageBatch> Epoch(int epoch)
    {
        foreach (ImageBatch batch in global.Epoch(epoch))
        {
            ImageBatch shard;
            using (batch)
            {
                (int start, int count) = Range(batch.Count, rank, size);
                // Views of the batch's storage, which stays alive while they do.
                shard = new ImageBatch(batch.Images.narrow(0, start, count), batch.Labels.narrow(0, start, count),
                    [.. batch.Indices.Skip(start).Take(count)]);
                LastGlobalCount = batch.Count;
            }
            yield return shard;
        }
    }

    /// <summary>Rank <paramref name="rank"/>'s slice of a batch of <paramref name="count"/> images.</summary>
    /// <exception cref="InvalidOperationException">The batch has fewer images than there are processes.</exception>
    public static (int Start, int Count) Range(int count, int rank, int size)
    {
        if (count < size)
        {
            throw new InvalidOperationException(
                $"A batch of {count} image(s) cannot give each of the {size} ranks one; use fewer ranks, or a batch size and data set size that leave no batch smaller than {size}.");
        }
        int each = count / size, extra = count % size;
        return ((rank * each) + Math.Min(rank, extra), each + (rank < extra ? 1 : 0));
    }
}
