namespace GpuDistill.Models;

/// <summary>
/// The teacher: a <see cref="StagedCnn"/> with widths 32/64/128 and dropout 0.3 before the head (about 288k
/// parameters). Sized to train on a 2-core CPU in a couple of minutes per Fashion-MNIST epoch at batch 128.
/// A second instance (another seed) is the "same architecture" student of born-again distillation.
/// </summary>
public sealed class TeacherCnn : StagedCnn
{
    /// <summary>Factory name of this architecture.</summary>
    public const string ArchitectureName = "teacher-cnn";

    /// <summary>Builds a teacher initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    public TeacherCnn(long seed)
        : base(ArchitectureName, 32, 64, 128, dropout: 0.3, seed)
    {
    }
}
