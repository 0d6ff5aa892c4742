namespace GpuDistill.Models;

/// <summary>
/// The mid-sized convolutional model: a <see cref="StagedCnn"/> with widths 16/32/64 and dropout 0.1 (about 72k
/// parameters, between <see cref="SmallCnn"/> and <see cref="TeacherCnn"/>). It is the teacher assistant of TAKD and
/// a second teacher of a different architecture for multi-teacher distillation.
/// </summary>
public sealed class MidCnn : StagedCnn
{
    /// <summary>Factory name of this architecture.</summary>
    public const string ArchitectureName = "mid-cnn";

    /// <summary>Builds a mid-sized CNN initialised from <paramref name="seed"/>.</summary>
    /// <param name="seed">Seed of the weight initialisation.</param>
    public MidCnn(long seed)
        : base(ArchitectureName, 16, 32, 64, dropout: 0.1, seed)
    {
    }
}
