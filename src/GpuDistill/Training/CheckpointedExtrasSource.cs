using GpuDistill.Data;

namespace GpuDistill.Training;

/// <summary>
/// Another source's batches, unchanged, with modules that a method trains besides the models (e.g. a discriminator
/// and its optimiser) saved with the run's checkpoints and restored on resume.
/// </summary>
/// <param name="inner">Where the batches come from.</param>
/// <param name="extras">The modules to checkpoint.</param>
public sealed class CheckpointedExtrasSource(IBatchSource inner, IReadOnlyList<TrainedModule> extras) : ICheckpointedSource
{
    /// <inheritdoc/>
    public int BatchCount => inner.BatchCount;

    /// <inheritdoc/>
    public IEnumerable<ImageBatch> Epoch(int epoch) => inner.Epoch(epoch);

    /// <inheritdoc/>
    public IReadOnlyList<string> Save(string directory, string prefix) => TrainedModules.Save(directory, prefix, extras);

    /// <inheritdoc/>
    public void Load(string directory, IReadOnlyList<string> files) => TrainedModules.Load(directory, files, extras);
}
