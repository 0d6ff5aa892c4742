using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>How multi-teacher KD weighs its teachers.</summary>
public enum TeacherWeighting
{
    /// <summary>Per example, each teacher's probability of the true label (normalised over the teachers).</summary>
    Confidence,

    /// <summary>Every teacher 1/K.</summary>
    Equal,
}

/// <summary>The settings of <c>multi-kd</c>: the temperature and how the teachers are weighted.</summary>
public sealed record MultiTeacherKDSettings : TemperatureSettings
{
    /// <summary>Confidence (default) or equal weights.</summary>
    public TeacherWeighting Weighting { get; init; } = TeacherWeighting.Confidence;
}

/// <summary>
/// Multi-teacher KD ("multi-kd"): T^2 KL(q || p_s) with q the weighted mixture of every teacher's softened
/// distribution, combined inside one fused launch (<see cref="Losses.MultiTeacherKD"/>). It reads all teachers' logits
/// (<see cref="TermInputs.TeacherEnsembleLogits"/>, from <see cref="Training.TeacherOutputs.CreateEnsemble"/>); with a
/// single teacher it is Hinton KD. The multi-teacher scheme trains with it.
/// </summary>
/// <param name="settings">Temperature and weighting.</param>
public sealed class MultiTeacherKDTerm(MultiTeacherKDSettings settings) : ILossTerm
{
    /// <summary>The registry's description (no method of its own: the multi-teacher scheme uses it).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<MultiTeacherKDSettings>("multi-kd",
        "Multi-teacher KD: KL to the weighted mixture of every teacher's softened outputs (the multi-teacher scheme).",
        s => new MultiTeacherKDTerm(s));

    /// <inheritdoc/>
    public string Name => "multi-kd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        // One teacher: the stack of one.
        Tensor teachers = inputs.TeacherEnsembleLogits ?? inputs.RequireTeacher(Name).unsqueeze(0);
        MultiTeacherWeights weights = settings.Weighting == TeacherWeighting.Equal ? MultiTeacherWeights.Uniform : MultiTeacherWeights.Confidence;
        return Losses.MultiTeacherKD(inputs.StudentLogits, teachers, settings.Temperature, weights, inputs.Labels);
    }
}
