using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>One named part of a training loss (e.g. "ce", "kd"); the trainer sums the weighted terms.</summary>
public interface ILossTerm
{
    /// <summary>The term's name, as written in <c>--loss kd:0.9,ce:0.1</c> and shown in progress and results.</summary>
    string Name { get; }

    /// <summary>Whether the term reads the teacher's outputs.</summary>
    bool NeedsTeacher { get; }

    /// <summary>The unweighted term for one batch, a scalar tensor.</summary>
    /// <param name="inputs">The step's logits and labels.</param>
    /// <returns>A scalar with an autograd graph back to the student.</returns>
    Tensor Compute(TermInputs inputs);
}
