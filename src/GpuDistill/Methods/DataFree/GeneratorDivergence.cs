using GpuDistill.Kernels.Rows;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The teacher-student divergence that adversarial generators maximise and students minimise (loss-spec-2 7.3),
/// differentiable in both the student's and the teacher's logits (the generator learns through both).
/// </summary>
public static class GeneratorDivergence
{
    /// <summary>The names a setting may give: <c>l1</c> (DFAD: mean |z_s - z_t| over B*C logits), <c>kl</c> (ZSKT:
    /// KL(p_t || q_s) at T = 1 over B*C, the fused two-sided kernel), <c>probability-l1</c> (mean |q_s - p_t| over
    /// B*C, the fused two-sided kernel).</summary>
    public static IReadOnlyList<string> Names { get; } = ["l1", "kl", "probability-l1"];

    /// <summary>The divergence named <paramref name="name"/> between <paramref name="student"/> and
    /// <paramref name="teacher"/> logits [B, C]; a scalar with gradients for both where they require one.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <param name="student">Student logits [B, C].</param>
    /// <param name="teacher">Teacher logits [B, C].</param>
    /// <returns>A scalar float32 tensor.</returns>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static Tensor Compute(string name, Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        return name switch
        {
            "l1" => nn.functional.l1_loss(student, teacher),
            "kl" => Losses.SoftmaxKLBothSides(student, teacher, 1.0, RowReduction.ElementwiseMean),
            "probability-l1" => Losses.ProbabilityL1(student, teacher, 1.0, RowReduction.ElementwiseMean),
            _ => throw new ArgumentException($"Unknown divergence '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name)),
        };
    }

    /// <summary>The student's side as a loss term (teacher detached), e.g. for a student that learns on generated images.</summary>
    /// <param name="name">One of <see cref="Names"/>.</param>
    /// <returns>The term, named <c>div-NAME</c> in progress and results.</returns>
    public static ILossTerm Term(string name)
    {
        if (!Names.Contains(name))
            throw new ArgumentException($"Unknown divergence '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name));
        return new StudentTerm(name);
    }

    private sealed class StudentTerm(string divergence) : ILossTerm
    {
        public string Name => $"div-{divergence}";

        public bool NeedsTeacher => true;

        public Tensor Compute(TermInputs inputs)
        {
            ArgumentNullException.ThrowIfNull(inputs);
            return GeneratorDivergence.Compute(divergence, inputs.StudentLogits, inputs.RequireTeacher(Name));
        }
    }
}
