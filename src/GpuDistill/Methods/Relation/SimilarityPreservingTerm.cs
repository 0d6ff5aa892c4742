using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Similarity-preserving distillation (Tung and Mori 2019; loss-spec 3.2): the student's row-normalised B x B Gram
/// matrix of a layer matches the teacher's. Default layer: the last feature layer of each model (RepDistiller's
/// <c>feat[-2]</c>, the last stage before pooling), so the widths may differ. RepDistiller weights it 3000.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class SimilarityPreservingTerm(LayerSettings settings) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description: method sp = sp:3000,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("sp",
        "Similarity-preserving: row-normalised B x B Gram matrices match (Tung and Mori 2019); default: the last stage.",
        s => new SimilarityPreservingTerm(s), new BuiltInMethod("sp", "sp:3000,ce:1")
        {
            Grid = TuningGrid.Scaled("sp:3000,ce:1", 0.1, 0.3, 1),
        });

    /// <inheritdoc/>
    public override string Name => "sp";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Last(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.SimilarityPreserving(student, teacher);
}
