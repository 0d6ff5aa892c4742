using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The generator's side of the adversarial min-max game (DFAD, ZSKT, and <c>adversarial</c> with real data): each time
/// the source asks (every <c>studentStepsPerGeneratorStep</c> student steps), one generator step that maximises the teacher-student divergence
/// on a fresh generated batch, through the frozen teacher and the student. The student's batches are fresh draws, or,
/// with a <see cref="GeneratorBatchSource.Memory"/>, draws from it, into which each generator step's images go.
/// </summary>
/// <param name="divergence">One of <see cref="GeneratorDivergence.Names"/>.</param>
/// <param name="student">The student the generator plays against.</param>
internal sealed class DivergenceGame(string divergence, DistillModel student) : IGeneratorGame
{
    /// <inheritdoc/>
    public IReadOnlyList<TrainedModule> Extras => [];

    /// <inheritdoc/>
    public GameImages? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep)
    {
        ArgumentNullException.ThrowIfNull(source);
        Tensor images = source.Generate(source.BatchSize);
        Tensor teacher = source.Teacher.ForwardLogits(images);
        Tensor studentLogits = student.ForwardLogits(images);
        // The generator maximises the divergence; the student's gradients from this pass are zeroed by the trainer
        // before its own step.
        source.GeneratorStep(GeneratorDivergence.Compute(divergence, studentLogits, teacher).neg(), epoch, studentStep);
        return source.Memory is null ? null : new GameImages(images, teacher);
    }
}
