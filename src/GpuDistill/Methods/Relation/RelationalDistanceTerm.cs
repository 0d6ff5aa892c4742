using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// RKD's distance-wise term (Park et al. 2019; loss-spec 3.1): the student's pairwise distances over the batch,
/// normalised by their mean, match the teacher's (Huber). Default layer: the embedding each classifier head reads
/// (RepDistiller's <c>feat[-1]</c>). The method <c>rkd</c> weights it 25 next to the angle term's 50.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class RelationalDistanceTerm(LayerSettings settings) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description: method rkd = rkd-distance:25,rkd-angle:50,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("rkd-distance",
        "RKD distance: pairwise distances over their mean, Huber (Park et al. 2019); default: head:in.",
        s => new RelationalDistanceTerm(s), new BuiltInMethod("rkd", "rkd-distance:25,rkd-angle:50,ce:1")
        {
            Grid = TuningGrid.Scaled("rkd-distance:25,rkd-angle:50,ce:1", 0.1, 0.3, 1),
        });

    /// <inheritdoc/>
    public override string Name => "rkd-distance";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Embedding(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.RelationalDistance(student, teacher);
}
