using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Probabilistic knowledge transfer (Passalis and Tefas 2018; loss-spec 2.4): the student's cosine-similarity
/// distribution over the batch matches the teacher's (KL). Default layer: the embedding each classifier head reads,
/// so student and teacher may differ in width.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class ProbabilisticKnowledgeTransferTerm(LayerSettings settings) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description: method pkt = pkt:30000,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("pkt",
        "Probabilistic knowledge transfer: KL of cosine-similarity distributions over the batch (Passalis and Tefas 2018); default: head:in.",
        s => new ProbabilisticKnowledgeTransferTerm(s), new BuiltInMethod("pkt", "pkt:30000,ce:1")
        {
            Grid = TuningGrid.Scaled("pkt:30000,ce:1", 0.1, 0.3, 1),
        });

    /// <inheritdoc/>
    public override string Name => "pkt";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Embedding(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.ProbabilisticKnowledgeTransfer(student, teacher);
}
