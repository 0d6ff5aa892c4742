namespace GpuDistill.Models;

/// <summary>
/// The convolutional student: a <see cref="StagedCnn"/> with widths 8/16/32 and no dropout (about 18k
/// parameters, roughly 1/16 of <see cref="TeacherCnn"/>). Its stages carry the teacher's names and spatial sizes,
/// so feature methods only need to adapt channel counts.
/// </summary>
public sealed class SmallCnn : StagedCnn
{
    /// <summary>Factory name of this architecture.</summary>
    public const string ArchitectureName = "small-cnn";

    /// <summary>Builds a small CNN initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    public SmallCnn(long seed)
        : base(ArchitectureName, 8, 16, 32, dropout: 0.0, seed)
    {
    }
}
