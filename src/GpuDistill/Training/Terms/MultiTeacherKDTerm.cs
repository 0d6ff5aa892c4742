using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>
/// Multi-teacher KD ("multi-kd"): T^2 KL(q || p_s) with q the weighted mixture of every teacher's softened
/// distribution, combined inside one fused launch (<see cref="Losses.MultiTeacherKD"/>). It reads all teachers' logits
/// (<see cref="TermInputs.TeacherEnsembleLogits"/>, from <see cref="TeacherOutputs.CreateEnsemble"/>); with a single
/// teacher it is Hinton KD. Weighting: <c>confidence</c> (per example, each teacher's probability of the true label)
/// or <c>equal</c>.
/// </summary>
/// <param name="Temperature">T.</param>
/// <param name="Weighting"><c>confidence</c> or <c>equal</c>.</param>
public sealed record MultiTeacherKDTerm(double Temperature, string Weighting) : ILossTerm
{
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
        MultiTeacherWeights weights = Weighting switch
        {
            "confidence" => MultiTeacherWeights.Confidence,
            "equal" => MultiTeacherWeights.Uniform,
            _ => throw new ArgumentException($"Loss term 'multi-kd' weighs teachers by 'confidence' or 'equal'; got '{Weighting}'.", nameof(inputs)),
        };
        return Losses.MultiTeacherKD(inputs.StudentLogits, teachers, Temperature, weights, inputs.Labels);
    }
}
