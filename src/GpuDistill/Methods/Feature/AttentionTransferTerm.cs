using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>at</c> and <c>at-paper</c>: the layers and the exponent p of the maps.</summary>
public sealed record AttentionTransferSettings : LayerSettings
{
    /// <summary>Exponent p of the attention maps (sum over channels of |f|^p); the paper's 2.</summary>
    public double P { get; init; } = 2.0;

    /// <inheritdoc/>
    public override void Validate() => Require(double.IsFinite(P) && P > 0, "p", P, "finite and > 0");
}

/// <summary>
/// Attention transfer (Zagoruyko and Komodakis 2017; loss-spec 2.2) over pairs of layers, summed: the fused ILGPU
/// kernel compares the normalised channel maps of |f|^p. "at" is the form of the reference code (RepDistiller,
/// mdistiller: mean squared map difference), "at-paper" the paper's (L2 norm of the map difference per example).
/// Default layers: every feature layer of each model, paired in order (the stage outputs of the CNNs).
/// </summary>
/// <param name="settings">Layers named by the user, if any, and the exponent p.</param>
/// <param name="form">Which published form.</param>
public sealed class AttentionTransferTerm(AttentionTransferSettings settings, AttentionTransferForm form) : PairedFeatureTerm(settings)
{
    /// <summary>The registry's description of the reference codes' form: method at = at:1000,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<AttentionTransferSettings>("at",
        "Attention transfer, the reference codes' form: mean squared difference of normalised attention maps (Zagoruyko and Komodakis 2017); default: every stage.",
        s => new AttentionTransferTerm(s, AttentionTransferForm.Code), new BuiltInMethod("at", "at:1000,ce:1")
        {
            Grid = TuningGrid.Scaled("at:1000,ce:1", 0.1, 0.3, 1),
        });

    /// <summary>The registry's description of the paper's form (the L2 norm of the map difference per example).</summary>
    public static TermInfo PaperInfo { get; } = TermInfo.Of<AttentionTransferSettings>("at-paper",
        "Attention transfer, the paper's form: L2 norm of the normalised attention maps' difference per example.",
        s => new AttentionTransferTerm(s, AttentionTransferForm.Paper));

    private readonly double p = settings.P;

    /// <inheritdoc/>
    public override string Name => form == AttentionTransferForm.Paper ? "at-paper" : "at";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.All(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.AttentionTransfer(student, teacher, p, form);
}
