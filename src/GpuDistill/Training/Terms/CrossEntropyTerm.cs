using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>Cross-entropy with the hard labels ("ce").</summary>
public sealed class CrossEntropyTerm : ILossTerm
{
    /// <inheritdoc/>
    public string Name => "ce";

    /// <inheritdoc/>
    public bool NeedsTeacher => false;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return nn.functional.cross_entropy(inputs.StudentLogits, inputs.Labels);
    }
}
