using GpuDistill.Training;
using GpuDistill.Data;

namespace GpuDistill.Methods;

/// <summary>
/// A loss term with a stage of its own before the student trains (e.g. MHGD fits its attention network on the
/// teacher first). The trainer calls <see cref="Prepare"/> once, after the learned adapters are built and before
/// the first epoch, and not when it resumes from a checkpoint: what the stage fits must live in the term's
/// adapters (<see cref="IAdaptedTerm.Adapter"/>), which the checkpoints save and restore.
/// </summary>
public interface IPreparedTerm : IAdaptedTerm
{
    /// <summary>Runs the term's own stage.</summary>
    /// <param name="context">The teacher's outputs, the training batches, the seed and where to report.</param>
    void Prepare(TermPreparation context);
}

/// <summary>What a term's own stage works with.</summary>
/// <param name="Teacher">The frozen teacher's outputs (logits and the layers the term reads).</param>
/// <param name="Batches">The training set's batches for a 0-based epoch (the trainer's batcher: same order,
/// same augmentation as the student will see).</param>
/// <param name="StepsPerEpoch">Batches per epoch.</param>
/// <param name="Seed">The run's seed.</param>
/// <param name="RunName">The run's name, for progress reports.</param>
/// <param name="Progress">Receives the stage's progress; null for none.</param>
/// <param name="Directory">The run's checkpoint directory, where the stage may leave a summary; null for none.</param>
public sealed record TermPreparation(TeacherOutputs Teacher, Func<int, IEnumerable<ImageBatch>> Batches, int StepsPerEpoch,
    int Seed, string RunName, IProgress<TrainingProgress>? Progress, string? Directory);
