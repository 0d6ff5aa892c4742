namespace GpuDistill.Models;

/// <summary>
/// A <see cref="StagedCnn"/> of widths w/2w/4w: the student sizes between <see cref="SmallCnn"/> (w = 8) and
/// <see cref="TeacherCnn"/> (w = 32) that a capacity-gap sweep needs besides <see cref="MidCnn"/> (w = 16).
/// <see cref="ModelFactory"/> names two: <c>cnn-w12</c> (12/24/48, no dropout, 41,110 parameters) and <c>cnn-w24</c>
/// (24/48/96, dropout 0.2, 162,562 parameters). Their stages carry the teacher's names and spatial sizes.
/// </summary>
public sealed class ScaledCnn : StagedCnn
{
    /// <summary>Factory name of the width-12 CNN.</summary>
    public const string Width12Name = "cnn-w12";

    /// <summary>Factory name of the width-24 CNN.</summary>
    public const string Width24Name = "cnn-w24";

    /// <summary>Builds a CNN of widths <paramref name="width"/>, 2 <paramref name="width"/>, 4 <paramref name="width"/>.</summary>
    /// <param name="architecture">Its factory name.</param>
    /// <param name="width">Channels of stage 1 (&gt; 0).</param>
    /// <param name="dropout">Dropout probability before the head, in [0, 1).</param>
    /// <param name="seed">Seed of the weight initialisation.</param>
    public ScaledCnn(string architecture, int width, double dropout, long seed)
        : base(architecture, width, 2 * width, 4 * width, dropout, seed)
    {
    }
}
