using GpuDistill.Interop;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Base of the feature terms that compare student layer i with teacher layer i and sum over the pairs (FitNets, AT,
/// NST, PKT): it resolves the layers, checks the pairing and adds the pairs up; a term supplies its default layers
/// and the loss of one pair.
/// </summary>
/// <param name="settings">Layers named by the user (null for the term's default).</param>
public abstract class PairedFeatureTerm(LayerSettings settings) : IFeatureTerm
{
    /// <inheritdoc/>
    public abstract string Name { get; }

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public IReadOnlyList<string> StudentLayers { get; private set; } = [];

    /// <inheritdoc/>
    public IReadOnlyList<string> TeacherLayers { get; private set; } = [];

    /// <inheritdoc/>
    public void Bind(DistillModel student, DistillModel teacher) =>
        (StudentLayers, TeacherLayers) = LayerChoice.Resolve(Name, settings, student, teacher, DefaultLayers);

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (StudentLayers.Count == 0)
            throw new InvalidOperationException($"Loss term '{Name}' has no layers: Bind it to the models first.");
        Tensor? total = null;
        for (int i = 0; i < StudentLayers.Count; i++)
        {
            Tensor pair = PairLoss(i, inputs.StudentFeature(Name, StudentLayers[i]), inputs.TeacherFeature(Name, TeacherLayers[i]), inputs.TeacherExamples);
            total = total is null ? pair : total.add(pair, alpha: Scalars.One);
        }
        return total!;
    }

    /// <summary>The layers this term reads from <paramref name="model"/> when the user names none.</summary>
    protected abstract IReadOnlyList<string> DefaultLayers(DistillModel model);

    /// <summary>The loss of pair <paramref name="index"/>, a scalar with an autograd graph back to the student.</summary>
    /// <param name="index">Position of the pair.</param>
    /// <param name="student">The student's capture.</param>
    /// <param name="teacher">The teacher's capture (detached).</param>
    protected abstract Tensor PairLoss(int index, Tensor student, Tensor teacher);

    /// <summary>The loss of pair <paramref name="index"/> when the batch's training images are known
    /// (<see cref="TermInputs.TeacherExamples"/>): a term that keeps per-image teacher values overrides this one.</summary>
    /// <param name="index">Position of the pair.</param>
    /// <param name="student">The student's capture.</param>
    /// <param name="teacher">The teacher's capture (detached).</param>
    /// <param name="examples">The batch's images when the teacher's outputs come from a cache; null otherwise.</param>
    protected virtual Tensor PairLoss(int index, Tensor student, Tensor teacher, Training.TeacherExamples? examples) =>
        PairLoss(index, student, teacher);
}
