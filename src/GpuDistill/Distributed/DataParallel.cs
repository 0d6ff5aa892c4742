using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Distributed;

/// <summary>
/// Data-parallel training: every process holds the same learners and takes its shard of every global batch
/// (<see cref="ShardedBatches"/>); each scales its loss by its share of the batch, and after the backward pass the
/// gradients are summed over the processes in place (<see cref="GradientBuckets"/>, one allreduce per bucket), so
/// every process makes the same update one process would make with the whole batch. Batch norm sees its shard
/// (<see cref="BatchNormMode.Local"/>) or the whole batch (<see cref="BatchNormMode.Synchronised"/>).
/// </summary>
/// <remarks>
/// Equal to one process within float rounding for losses that are means over the batch's images, with synchronised
/// batch norm (or none) and no dropout; relation losses (pairs within a batch) see pairs within a shard only.
/// </remarks>
/// <param name="group">The processes.</param>
/// <param name="batchNorm">How batch norm layers see the batch.</param>
/// <param name="bucketBytes">Most bytes of gradients per allreduce.</param>
public sealed class DataParallel(IProcessGroup group, BatchNormMode batchNorm = BatchNormMode.Local,
    long bucketBytes = GradientBuckets.DefaultBucketBytes) : IDistributedTraining
{
    private ShardedBatches? shards;
    private IReadOnlyList<LearnerState> learners = [];
    private GradientBuckets[] buckets = [];

    /// <inheritdoc/>
    public int Rank => group.Rank;

    /// <inheritdoc/>
    public int Size => group.Size;

    /// <summary>Gradient bytes each process sums per step (all learners), known once the run has begun.</summary>
    public long GradientBytesPerStep => buckets.Sum(b => b.Bytes);

    /// <summary>Allreduce calls per step for the gradients.</summary>
    public int BucketsPerStep => buckets.Sum(b => b.Count);

    /// <inheritdoc/>
    public IBatchSource Batches(IBatchSource run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run is ICheckpointedSource)
            throw new NotSupportedException("Data-parallel training of a batch source with state of its own (a generator) is not supported; train it on one process.");
        shards = new ShardedBatches(run, group.Rank, group.Size);
        return shards;
    }

    /// <inheritdoc/>
    public IDisposable Begin(DistributedStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (start.Options.BatchSize % group.Size != 0)
        {
            throw new ArgumentException(
                $"The batch size {start.Options.BatchSize} does not divide by the {group.Size} ranks: each rank takes an equal shard of every batch, so use a multiple of {group.Size}.",
                nameof(start));
        }
        SettingsAgreement.Require(group, [.. start.Settings(), $"data-parallel: {group.Size} ranks, batch norm {batchNorm}, buckets of {bucketBytes} bytes"]);
        learners = start.Learners;
        // Every process starts from rank 0's weights and optimiser state, whatever made them.
        foreach (LearnerState learner in learners) LearnerStateBytes.Broadcast(group, learner, root: 0);
        buckets = [.. learners.Select(l => new GradientBuckets(l.Trainable, bucketBytes))];
        List<BatchNormalization2d> layers = batchNorm == BatchNormMode.Synchronised ? [.. BatchNormLayers()] : [];
        var sync = new SynchronisedBatchNorm(group);
        foreach (BatchNormalization2d layer in layers) layer.Synchronisation = sync;
        return new Ending(() =>
        {
            foreach (BatchNormalization2d layer in layers) layer.Synchronisation = null;
            foreach (GradientBuckets b in buckets) b.Dispose();
            buckets = [];
        });
    }

    /// <inheritdoc/>
    public bool Steps(int learner) => true;

    /// <inheritdoc/>
    public IReadOnlyList<Tensor> Logits(IReadOnlyList<Tensor?> local)
    {
        ArgumentNullException.ThrowIfNull(local);
        return [.. local.Select(l => l!)];
    }

    /// <inheritdoc/>
    public double LossScale(ImageBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        int global = shards?.LastGlobalCount ?? batch.Count;
        return batch.Count / (double)global;
    }

    /// <inheritdoc/>
    public void BeforeBackward(int learner) => buckets[learner].Attach();

    /// <inheritdoc/>
    public void AfterBackward(int learner) => buckets[learner].Sum(group);

    /// <inheritdoc/>
    public void Reduce(Span<double> counts, Span<double> seconds)
    {
        group.AllreduceSum(counts);
        group.AllreduceSum(seconds);
        // Each process spent its own time on its shard, at once: their mean is the run's.
        foreach (ref double s in seconds) s /= group.Size;
    }

    /// <inheritdoc/>
    public void EndEpoch()
    {
        if (batchNorm == BatchNormMode.Synchronised) return;
        // Local statistics drift apart: every process keeps their mean, so all evaluate and save the same model.
        using var noGrad = no_grad();
        Tensor[] statistics = [.. BatchNormLayers().SelectMany(l => l.buffers()).Where(b => b.dtype == ScalarType.Float32)];
        if (statistics.Length == 0) return;
        using Tensor flat = cat([.. statistics.Select(s => s.flatten())]);
        group.AllreduceSum(MemoryMarshal.Cast<byte, float>(flat.bytes));
        using Scalar processes = ((double)group.Size).ToScalar();
        flat.div_(processes);
        long offset = 0;
        foreach (Tensor s in statistics)
        {
            using Tensor part = flat.narrow(0, offset, s.numel());
            using Tensor shaped = part.view(s.shape);
            s.copy_(shaped);
            offset += s.numel();
        }
    }

    private IEnumerable<BatchNormalization2d> BatchNormLayers() =>
        learners.SelectMany(l => l.Adapters is null ? l.Model.modules() : l.Model.modules().Concat(l.Adapters.modules()))
            .OfType<BatchNormalization2d>();

    /// <summary>Runs an action once when disposed.</summary>
    private sealed class Ending(Action end) : IDisposable
    {
        private Action? pending = end;

        public void Dispose()
        {
            pending?.Invoke();
            pending = null;
        }
    }
}
