using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>
/// Attention transfer (Zagoruyko and Komodakis 2017; loss-spec 2.2) over pairs of layers, summed: the fused ILGPU
/// kernel compares the normalised channel maps of |f|^p. "at" is the form of the reference code (RepDistiller,
/// mdistiller: mean squared map difference), "at-paper" the paper's (L2 norm of the map difference per example).
/// Default layers: every feature layer of each model, paired in order (the stage outputs of the CNNs).
/// </summary>
/// <param name="settings">Layers named by the user, if any, and the exponent p.</param>
/// <param name="form">Which published form.</param>
public sealed class AttentionTransferTerm(LossSettings settings, AttentionTransferForm form) : PairedFeatureTerm(settings)
{
    private readonly double p = settings.AttentionP;

    /// <inheritdoc/>
    public override string Name => form == AttentionTransferForm.Paper ? "at-paper" : "at";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.All(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.AttentionTransfer(student, teacher, p, form);
}
