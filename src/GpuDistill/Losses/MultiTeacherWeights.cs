using GpuDistill.Kernels.MultiTeacher;
using GpuDistill.Validation;

namespace GpuDistill;

/// <summary>
/// How <see cref="Losses.MultiTeacherKD"/> weights its K teachers: fixed weights (the same for every example,
/// normalised to sum to one) or each teacher's confidence in the true label, per example.
/// </summary>
public sealed class MultiTeacherWeights
{
    private readonly double[] normalized;

    private MultiTeacherWeights(MultiTeacherWeighting kind, double[] normalized)
    {
        Kind = kind;
        this.normalized = normalized;
    }

    /// <summary>Every teacher weighted 1/K, whatever K is.</summary>
    public static MultiTeacherWeights Uniform { get; } = new(MultiTeacherWeighting.Fixed, []);

    /// <summary>
    /// Per example b, teacher k weighted by its probability of the true label at T = 1, softmax(t_kb)[y_b],
    /// normalised over the teachers: a teacher that is surer of the right answer counts more. Needs labels.
    /// </summary>
    /// <remarks>
    /// The idea of weighting each teacher per example by its agreement with the ground truth is CA-MKD's (Zhang,
    /// Chen and Wang, "Confidence-Aware Multi-Teacher Knowledge Distillation", ICASSP 2022, arXiv:2201.00007), which
    /// derives the weights from each teacher's cross-entropy with the label. Here w_k = exp(-CE_k) / sum_j exp(-CE_j),
    /// the simplest such function, computed in log space inside the fused kernel; it is not CA-MKD's exact formula.
    /// </remarks>
    public static MultiTeacherWeights Confidence { get; } = new(MultiTeacherWeighting.Confidence, []);

    /// <summary>How the kernel weights the teachers.</summary>
    public MultiTeacherWeighting Kind { get; }

    /// <summary>
    /// The fixed weights as the kernel uses them, normalised to sum to one (empty for <see cref="Uniform"/> and
    /// <see cref="Confidence"/>).
    /// </summary>
    public IReadOnlyList<double> Values => normalized;

    /// <summary>
    /// Fixed weights, one per teacher in the order of the teacher stack. They are normalised to sum to one, so
    /// (1, 3) and (0.25, 0.75) are the same weighting; a zero weight leaves that teacher out.
    /// </summary>
    /// <param name="weights">Finite, &gt;= 0, with a positive sum.</param>
    /// <returns>The weighting.</returns>
    /// <exception cref="ArgumentException">A weight is negative, NaN or infinite, there are none, or all are 0.</exception>
    public static MultiTeacherWeights Fixed(params double[] weights)
    {
        double sum = TensorChecks.RequireMixtureWeights(weights, nameof(weights));
        return new(MultiTeacherWeighting.Fixed, Array.ConvertAll(weights, w => w / sum));
    }

    /// <summary>The K weights the kernel takes, normalised; checks that fixed weights have one per teacher.</summary>
    /// <param name="teachers">K.</param>
    /// <param name="name">The argument name for errors.</param>
    /// <returns>K floats summing to one (as near as float32 allows).</returns>
    internal float[] ForTeachers(int teachers, string name)
    {
        if (Kind != MultiTeacherWeighting.Fixed) return [];
        if (normalized.Length == 0) return Enumerable.Repeat(1f / teachers, teachers).ToArray();
        if (normalized.Length != teachers)
            throw new ArgumentException(
                $"{name} has {normalized.Length} fixed weights; expected one per teacher ({teachers}, the first dimension of teachers).", name);
        return Array.ConvertAll(normalized, w => (float)w);
    }

    /// <inheritdoc/>
    public override string ToString() => Kind == MultiTeacherWeighting.Confidence ? "confidence"
        : normalized.Length == 0 ? "uniform"
        : "fixed(" + string.Join(", ", normalized.Select(w => w.ToString("G4", System.Globalization.CultureInfo.InvariantCulture))) + ")";
}
