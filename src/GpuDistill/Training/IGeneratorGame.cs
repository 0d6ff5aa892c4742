using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// What a generator-backed method does between the student's steps: it updates the generator (and whatever else it
/// trains besides the student, e.g. a discriminator) through the teacher and, where the method says so, the student.
/// <see cref="GeneratorBatchSource"/> calls it before every <c>studentStepsPerGeneratorStep</c>-th student step, inside the trainer's loop, so data-free and
/// adversarial runs keep the trainer's progress, checkpoints, resume and records.
/// </summary>
public interface IGeneratorGame
{
    /// <summary>
    /// Runs the method's generator updates due before student step <paramref name="studentStep"/> of <paramref name="epoch"/>
    /// (none, one, or several) and returns the images the student learns from at that step, or null for a fresh batch
    /// of the generator's (drawn by the source without gradient) or a draw from the source's memory.
    /// </summary>
    /// <param name="source">The source: generator, teacher, latent codes, the image count.</param>
    /// <param name="epoch">The 0-based epoch.</param>
    /// <param name="studentStep">The 0-based student step within the epoch.</param>
    /// <returns>The images, with the teacher's logits for them when the game already ran it; or null.</returns>
    GameImages? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep);

    /// <summary>The modules the game trains besides the generator, each with its optimiser, to be checkpointed with
    /// it (e.g. a discriminator); empty for none.</summary>
    IReadOnlyList<TrainedModule> Extras { get; }
}

/// <summary>Images a game hands the student, and the frozen teacher's logits for exactly these images when the game
/// already computed them (so the source need not run the teacher again); the source detaches both.</summary>
/// <param name="Images">[B, C, H, W].</param>
/// <param name="TeacherLogits">[B, classes] from the teacher in eval mode, or null.</param>
public sealed record GameImages(Tensor Images, Tensor? TeacherLogits = null);
