using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>What a loss term may read at one training step.</summary>
/// <param name="StudentLogits">The student's logits [B, C] (they carry the autograd graph).</param>
/// <param name="TeacherLogits">The teacher's logits [B, C], detached; null when the run has no teacher.</param>
/// <param name="Labels">Hard labels [B], int64.</param>
/// <param name="Epoch">The 0-based epoch (for warm-ups).</param>
/// <param name="Epochs">The number of epochs of the run.</param>
public sealed record TermInputs(Tensor StudentLogits, Tensor? TeacherLogits, Tensor Labels, int Epoch, int Epochs)
{
    /// <summary>The teacher's logits, or an error naming the term that needed them.</summary>
    public Tensor RequireTeacher(string term) =>
        TeacherLogits ?? throw new InvalidOperationException($"Loss term '{term}' needs a teacher, but this run has none.");
}
