using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Neuron selectivity transfer (Huang and Wang 2017; loss-spec 2.3): MMD with the polynomial kernel between the
/// channel activation patterns of paired layers, summed. Default layers: every feature layer of each model.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class NeuronSelectivityTransferTerm(LayerSettings settings) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description: method nst = nst:50,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("nst",
        "Neuron selectivity transfer: polynomial-kernel MMD of channel activations (Huang and Wang 2017); default: every stage.",
        s => new NeuronSelectivityTransferTerm(s), new BuiltInMethod("nst", "nst:50,ce:1")
        {
            Grid = TuningGrid.Scaled("nst:50,ce:1", 0.1, 0.3, 1),
        });

    /// <inheritdoc/>
    public override string Name => "nst";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.All(model);

    // The teacher's term and row norms of each pair per training image: most of the loss's matrix work, and constants.
    private readonly List<TeacherDerivedCache> teacherTerms = [];

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) => PairLoss(index, student, teacher, null);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher, TeacherExamples? examples)
    {
        if (examples is null) return Losses.NeuronSelectivityTransfer(student, teacher);
        while (teacherTerms.Count <= index) teacherTerms.Add(new TeacherDerivedCache());
        // Per image: the teacher's term, then the norms of its channel rows.
        Tensor kept = teacherTerms[index].GetOrCompute(examples, () =>
        {
            (Tensor terms, Tensor norms) = Losses.NeuronSelectivityTeacherSide(student, teacher);
            return cat([terms.unsqueeze(1), norms], 1);
        });
        using Tensor terms = kept.narrow(1, 0, 1);
        using Tensor norms = kept.narrow(1, 1, kept.shape[1] - 1);
        return Losses.NeuronSelectivityTransfer(student, teacher, terms, norms);
    }

    /// <summary>How many batches' teacher terms were read from the per-image cache, and how many computed, over the pairs.</summary>
    public (long Gathered, long Computed) TeacherTermBatches =>
        (teacherTerms.Sum(c => c.Batches.Gathered), teacherTerms.Sum(c => c.Batches.Computed));
}
