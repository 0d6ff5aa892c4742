using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>What a loss term may read at one training step.</summary>
/// <param name="StudentLogits">The student's logits [B, C] (they carry the autograd graph).</param>
/// <param name="TeacherLogits">The teacher's logits [B, C], detached; null when the run has no teacher.</param>
/// <param name="Labels">Hard labels [B], int64.</param>
/// <param name="Epoch">The 0-based epoch (for warm-ups).</param>
/// <param name="Epochs">The number of epochs of the run.</param>
/// <param name="StudentFeatures">The student's captured layers by path (with autograd history); empty when no
/// term reads features.</param>
/// <param name="TeacherFeatures">The teacher's captured layers by path, detached; empty when no term reads them.</param>
public sealed record TermInputs(Tensor StudentLogits, Tensor? TeacherLogits, Tensor Labels, int Epoch, int Epochs,
    IReadOnlyDictionary<string, Tensor>? StudentFeatures = null, IReadOnlyDictionary<string, Tensor>? TeacherFeatures = null)
{
    /// <summary>The other learners' logits [B, C] each, detached, when models learn together (online schemes); empty
    /// otherwise.</summary>
    public IReadOnlyList<Tensor> PeerLogits { get; init; } = [];

    /// <summary>Every teacher's logits [K, B, C], detached, when the run has several teachers; null otherwise.</summary>
    public Tensor? TeacherEnsembleLogits { get; init; }

    /// <summary>The training images of this batch when the teacher's outputs come from a cache (a term may then keep
    /// what it derives from them per image: <see cref="TeacherDerivedCache"/>); null when the teacher ran live.</summary>
    public Training.TeacherExamples? TeacherExamples { get; init; }

    /// <summary>The teacher's logits, or an error naming the term that needed them.</summary>
    public Tensor RequireTeacher(string term) =>
        TeacherLogits ?? throw new InvalidOperationException($"Loss term '{term}' needs a teacher, but this run has none.");

    /// <summary>The student's capture of <paramref name="layer"/>, or an error naming the term.</summary>
    public Tensor StudentFeature(string term, string layer) => Find(StudentFeatures, "student", term, layer);

    /// <summary>The teacher's capture of <paramref name="layer"/>, or an error naming the term.</summary>
    public Tensor TeacherFeature(string term, string layer) => Find(TeacherFeatures, "teacher", term, layer);

    private static Tensor Find(IReadOnlyDictionary<string, Tensor>? features, string model, string term, string layer) =>
        features is not null && features.TryGetValue(layer, out Tensor? value)
            ? value
            : throw new InvalidOperationException($"Loss term '{term}' reads the {model}'s layer '{layer}', which was not captured.");
}
