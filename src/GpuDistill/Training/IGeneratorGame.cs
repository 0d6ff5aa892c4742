using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// What a generator-backed method does between the student's steps: it updates the generator (and whatever else it
/// trains besides the student, e.g. a discriminator) through the teacher and, where the method says so, the student.
/// <see cref="GeneratorBatchSource"/> calls it before each student step, inside the trainer's loop, so data-free and
/// adversarial runs keep the trainer's progress, checkpoints, resume and records.
/// </summary>
public interface IGeneratorGame
{
    /// <summary>
    /// Runs the method's generator updates due before student step <paramref name="studentStep"/> of <paramref name="epoch"/>
    /// (none, one, or several) and returns the images the student learns from at that step, or null for a fresh batch
    /// of the generator's (drawn by the source without gradient).
    /// </summary>
    /// <param name="source">The source: generator, teacher, latent codes, the image count.</param>
    /// <param name="epoch">The 0-based epoch.</param>
    /// <param name="studentStep">The 0-based student step within the epoch.</param>
    /// <returns>Images [B, C, H, W] (the source detaches them), or null.</returns>
    Tensor? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep);

    /// <summary>The modules the game trains besides the generator, each with its optimiser, to be checkpointed with
    /// it (e.g. a discriminator); empty for none.</summary>
    IReadOnlyList<TrainedModule> Extras { get; }
}
