using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Cross-entropy within each example's group of classes ("ce" of the lifelong scheme): the softmax of an example runs
/// over the classes of the group that holds its label, the other logits masked out. One group per task is the
/// task-incremental head of each task; one group of every class seen so far is the class-incremental head.
/// </summary>
public sealed class GroupedCrossEntropyTerm : ILossTerm
{
    // Far below any logit: exp() of it is 0 in float32, and unlike -inf it never makes 0 * inf.
    private const float Masked = -1e9f;
    private readonly float[] maskByLabel;
    private readonly bool[] covered;
    private readonly int classCount;

    /// <summary>Creates the term.</summary>
    /// <param name="groups">Disjoint groups of classes; an example's label must be in one of them.</param>
    /// <param name="classCount">Logits per example, C.</param>
    /// <exception cref="ArgumentException">A group is empty, names a class outside [0, C), or shares a class with
    /// another.</exception>
    public GroupedCrossEntropyTerm(IReadOnlyList<IReadOnlyList<int>> groups, int classCount)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        this.classCount = classCount;
        covered = new bool[classCount];
        maskByLabel = new float[classCount * classCount];
        Array.Fill(maskByLabel, Masked);
        foreach (IReadOnlyList<int> group in groups)
        {
            if (group.Count == 0) throw new ArgumentException("A group of classes is empty.", nameof(groups));
            foreach (int label in group)
            {
                if (label < 0 || label >= classCount)
                    throw new ArgumentException($"Class {label} is outside [0, {classCount}).", nameof(groups));
                if (covered[label]) throw new ArgumentException($"Class {label} is in two groups.", nameof(groups));
                covered[label] = true;
                foreach (int other in group) maskByLabel[label * classCount + other] = 0;
            }
        }
        Groups = groups;
    }

    /// <summary>The groups of classes.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Groups { get; }

    /// <inheritdoc/>
    public string Name => "ce";

    /// <inheritdoc/>
    public bool NeedsTeacher => false;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Tensor logits = inputs.StudentLogits;
        if (logits.dim() != 2 || logits.shape[1] != classCount)
            throw new ArgumentException($"The student's logits must be [B, {classCount}]; got [{string.Join(", ", logits.shape)}].", nameof(inputs));
        long[] labels = inputs.Labels.data<long>().ToArray();
        foreach (long label in labels)
        {
            if (label < 0 || label >= classCount || !covered[label])
                throw new InvalidOperationException($"Label {label} is in none of the term's groups of classes ({string.Join(" ", Groups.Select(g => "{" + string.Join(',', g) + "}"))}).");
        }
        using Tensor table = tensor(maskByLabel, [classCount, classCount]);
        Tensor mask = table.index_select(0, inputs.Labels);
        return nn.functional.cross_entropy(logits.add(mask, alpha: Scalars.One), inputs.Labels);
    }
}
