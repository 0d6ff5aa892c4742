using GpuDistill.Training;

namespace GpuDistill.Distributed;

/// <summary>How batch norm layers see a data-parallel batch.</summary>
public enum BatchNormMode
{
    /// <summary>Each process normalises with its shard's statistics (no communication); the running statistics are
    /// averaged over the processes at the end of every epoch.</summary>
    Local,

    /// <summary>Every process normalises with the whole batch's statistics (an allreduce of each layer's sums in the
    /// forward pass and of their gradients in the backward pass): the same numbers as one process.</summary>
    Synchronised,
}

/// <summary>The process group a program's training runs are spread over, and how.</summary>
/// <param name="Group">The processes (e.g. <see cref="OpenMpiGroup.Join"/>).</param>
public sealed record DistributedSettings(IProcessGroup Group)
{
    /// <summary>Batch norm statistics: local (default) or synchronised.</summary>
    public BatchNormMode BatchNorm { get; init; } = BatchNormMode.Local;

    /// <summary>Most bytes of gradients summed by one allreduce (default 4 MiB).</summary>
    public long BucketBytes { get; init; } = GradientBuckets.DefaultBucketBytes;
}

/// <summary>
/// The process-wide choice of distributed training. MPI's processes are process-wide too: a program started by
/// <c>mpirun</c> joins the group once (the command line does with <c>--distributed</c>) and sets
/// <see cref="Current"/>; from then on every <see cref="Trainer"/> made without an explicit
/// <see cref="IDistributedTraining"/> trains data-parallel over it, and only rank 0 writes files.
/// </summary>
public static class DistributedTraining
{
    /// <summary>The group and its settings; null (the default) for one process.</summary>
    public static DistributedSettings? Current { get; set; }

    /// <summary>Whether this process writes the run's files: with no group, or on rank 0.</summary>
    public static bool WritesFiles => Current is null || Current.Group.Rank == 0;

    /// <summary>Data-parallel training over <see cref="Current"/>; null with no group.</summary>
    /// <returns>A new data-parallel hook for one run, or null.</returns>
    public static IDistributedTraining? DataParallelRun() =>
        Current is null ? null : new DataParallel(Current.Group, Current.BatchNorm, Current.BucketBytes);

    /// <summary>One online peer per process of <see cref="Current"/>; null with no group.</summary>
    /// <returns>A new peer hook for one run, or null.</returns>
    public static IDistributedTraining? PeerRun() => Current is null ? null : new PeerParallel(Current.Group);
}
