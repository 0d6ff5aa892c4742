using GpuDistill.Data;

namespace GpuDistill.Training;

/// <summary>
/// Where a run's training batches come from: a dataset (<see cref="ImageBatcher"/>, the default), a generator that
/// makes images for the teacher and the student, or a mix. The trainer asks for one epoch at a time.
/// </summary>
public interface IBatchSource
{
    /// <summary>Batches per epoch.</summary>
    int BatchCount { get; }

    /// <summary>The batches of a 0-based epoch; the caller disposes each.</summary>
    /// <param name="epoch">The epoch.</param>
    /// <returns>The batches, in order.</returns>
    IEnumerable<ImageBatch> Epoch(int epoch);
}

/// <summary>
/// A batch source with state of its own that the run's checkpoints keep beside the models (a generator's weights and
/// optimiser): saved after every epoch with them, restored with them on resume.
/// </summary>
public interface ICheckpointedSource : IBatchSource
{
    /// <summary>Writes the state (atomically, as <see cref="Models.Checkpoint.SaveAtomic"/> does) under file names that
    /// start with <paramref name="prefix"/> and end in <c>.pt</c>, and returns them.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="prefix">The epoch's prefix, e.g. <c>epoch-3.source</c>.</param>
    /// <returns>The files written (names within <paramref name="directory"/>).</returns>
    IReadOnlyList<string> Save(string directory, string prefix);

    /// <summary>Reads the state back from the files <see cref="Save"/> wrote.</summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="files">The files.</param>
    void Load(string directory, IReadOnlyList<string> files);
}
