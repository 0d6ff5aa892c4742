using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>Cross-entropy with the hard labels ("ce"); the student alone is method <c>none</c> = ce:1.</summary>
public sealed class CrossEntropyTerm : ILossTerm
{
    /// <summary>The registry's description: method none = ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<NoSettings>("ce",
        "Cross-entropy with the hard labels (the student alone is method none = ce:1).",
        _ => new CrossEntropyTerm(), new BuiltInMethod("none", "ce:1"));

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
