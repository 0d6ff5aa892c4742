using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// RKD's angle-wise term (Park et al. 2019; loss-spec 3.1): the angles the batch's examples form in the student's
/// embedding (B x B x B) match the teacher's (Huber). Default layer: the embedding each classifier head reads. The
/// method <c>rkd</c> weights it 50 next to the distance term's 25.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class RelationalAngleTerm(LayerSettings settings) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description (method rkd pairs it with rkd-distance).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("rkd-angle",
        "RKD angle: angles of every triple of examples, Huber (Park et al. 2019; method rkd); default: head:in.",
        s => new RelationalAngleTerm(s));

    /// <inheritdoc/>
    public override string Name => "rkd-angle";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Embedding(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.RelationalAngle(student, teacher);
}
