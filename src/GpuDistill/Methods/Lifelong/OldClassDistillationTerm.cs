using GpuDistill.Interop;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Distillation from the model's previous self on the old classes only (LwF's L_old, and iCaRL-style KD): for each
/// group of old classes, the soft cross-entropy between the previous model's and the current model's softmax at
/// temperature T over that group's logits; summed over the groups (one group per old task-incremental head, or one
/// group of every old class in the class-incremental setting).
/// </summary>
/// <remarks>
/// Computed with the fused KD kernel scaled by 1/T^2: its gradient is (softmax(z/T) - c)/T per row (batch mean), the
/// gradient of LwF's soft cross-entropy (loss-spec-2 10.1, no T^2 factor). The value shown is the KL divergence,
/// which is that cross-entropy less the previous model's (constant) entropy.
/// </remarks>
public sealed class OldClassDistillationTerm : ILossTerm
{
    private readonly long[][] columns;
    private readonly double temperature;

    /// <summary>Creates the term.</summary>
    /// <param name="name">Its name in progress and results ("lwf", "kd-old").</param>
    /// <param name="groups">The old classes, grouped by head; each group needs two classes at least.</param>
    /// <param name="temperature">T &gt; 0 (LwF's 2).</param>
    public OldClassDistillationTerm(string name, IReadOnlyList<IReadOnlyList<int>> groups, double temperature)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(groups);
        if (groups.Count == 0) throw new ArgumentException("Distillation on old classes needs one group of old classes at least.", nameof(groups));
        if (groups.Any(g => g.Count < 2))
            throw new ArgumentException("Each group of old classes needs two classes at least (a softmax over one class carries nothing).", nameof(groups));
        if (!double.IsFinite(temperature) || temperature <= 0)
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be finite and > 0.");
        Name = name;
        Groups = groups;
        this.temperature = temperature;
        columns = [.. groups.Select(g => g.Select(c => (long)c).ToArray())];
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <summary>The groups of old classes.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Groups { get; }

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Tensor teacher = inputs.RequireTeacher(Name);
        Tensor? total = null;
        foreach (long[] classes in columns)
        {
            using Tensor group = tensor(classes);
            Tensor part = Losses.SoftmaxKL(inputs.StudentLogits.index_select(1, group), teacher.index_select(1, group), temperature,
                softWeight: 1.0 / (temperature * temperature));
            total = total is null ? part : total.add(part, alpha: Scalars.One);
        }
        return total!;
    }
}
