using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Distributed;

/// <summary>
/// Online peers (deep mutual learning) over processes: learner k is stepped by rank k alone, on the whole batch;
/// each step the processes exchange only their peer's logits for the batch (an allgather of [B, C] floats each), so
/// every peer's loss reads the others' outputs as in one process. At the end of each epoch every learner's weights
/// and optimiser state go from its rank to the others, so every process can evaluate, and rank 0 checkpoint, all of
/// them.
/// </summary>
/// <param name="group">The processes, one per peer.</param>
public sealed class PeerParallel(IProcessGroup group) : IDistributedTraining
{
    private IReadOnlyList<LearnerState> learners = [];

    /// <inheritdoc/>
    public int Rank => group.Rank;

    /// <inheritdoc/>
    public int Size => group.Size;

    /// <inheritdoc/>
    public IBatchSource Batches(IBatchSource run) => run;

    /// <inheritdoc/>
    public IDisposable Begin(DistributedStart start)
    {
        ArgumentNullException.ThrowIfNull(start);
        if (start.Learners.Count != group.Size)
        {
            throw new ArgumentException(
                $"Online peers run one per rank: {start.Learners.Count} peers need {start.Learners.Count} ranks (mpirun -np {start.Learners.Count}); this run has {group.Size}.",
                nameof(start));
        }
        SettingsAgreement.Require(group, [.. start.Settings(), $"online peers: {group.Size} ranks"]);
        learners = start.Learners;
        for (int k = 0; k < learners.Count; k++) LearnerStateBytes.Broadcast(group, learners[k], root: k);
        return new Ended();
    }

    /// <inheritdoc/>
    public bool Steps(int learner) => learner == group.Rank;

    /// <inheritdoc/>
    public IReadOnlyList<Tensor> Logits(IReadOnlyList<Tensor?> local)
    {
        ArgumentNullException.ThrowIfNull(local);
        Tensor mine = local[group.Rank] ?? throw new ArgumentException($"Rank {group.Rank} has no logits of its peer.", nameof(local));
        using Tensor dense = mine.to_type(ScalarType.Float32).contiguous();
        Tensor all = empty([group.Size, .. dense.shape]);
        group.Allgather(MemoryMarshal.Cast<byte, float>(dense.bytes), MemoryMarshal.Cast<byte, float>(all.bytes));
        return [.. Enumerable.Range(0, group.Size).Select(k => k == group.Rank ? mine : all[k])];
    }

    /// <inheritdoc/>
    public double LossScale(ImageBatch batch) => 1;

    /// <inheritdoc/>
    public void BeforeBackward(int learner)
    {
    }

    /// <inheritdoc/>
    public void AfterBackward(int learner)
    {
    }

    /// <inheritdoc/>
    public void Reduce(Span<double> counts, Span<double> seconds)
    {
        // A learner's sums are its rank's; the others contribute zeros.
        group.AllreduceSum(counts);
        group.AllreduceSum(seconds);
    }

    /// <inheritdoc/>
    public void EndEpoch()
    {
        for (int k = 0; k < learners.Count; k++) LearnerStateBytes.Broadcast(group, learners[k], root: k);
    }

    private sealed class Ended : IDisposable
    {
        public void Dispose()
        {
        }
    }
}
