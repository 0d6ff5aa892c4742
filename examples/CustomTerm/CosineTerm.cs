using GpuDistill.Methods;
using TorchSharp;
using static TorchSharp.torch;

namespace CustomTerm;

/// <summary>The term's settings: what a recipe writes under "cosine", with their defaults.</summary>
public sealed record CosineSettings : MethodSettings
{
    /// <summary>Temperature the logits are divided by before they are compared.</summary>
    public double Temperature { get; init; } = 1.0;

    /// <inheritdoc/>
    public override void Validate() => Require(Temperature > 0, "temperature", Temperature, "> 0");
}

/// <summary>
/// A loss term of the user's own: 1 - cos(z_s / T, z_t / T), averaged over the batch (written in TorchSharp ops; autograd
/// differentiates it). <see cref="Info"/> is what registering it takes.
/// </summary>
public sealed class CosineTerm(CosineSettings settings) : ILossTerm
{
    /// <summary>Its name, help, settings and the built-in method it stands for (cosine = cosine:1,ce:1).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<CosineSettings>("cosine",
        "1 - cosine similarity of the student's and the teacher's logits (an example term).",
        s => new CosineTerm(s), new BuiltInMethod("cosine", "cosine:1,ce:1"));

    /// <inheritdoc/>
    public string Name => "cosine";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Tensor student = inputs.StudentLogits / settings.Temperature, teacher = inputs.RequireTeacher(Name) / settings.Temperature;
        return 1 - nn.functional.cosine_similarity(student, teacher, dim: 1).mean();
    }
}
