using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>
/// Neuron selectivity transfer (Huang and Wang 2017; loss-spec 2.3): MMD with the polynomial kernel between the
/// channel activation patterns of paired layers, summed. Default layers: every feature layer of each model.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class NeuronSelectivityTransferTerm(LossSettings settings) : PairedFeatureTerm(settings)
{
    /// <inheritdoc/>
    public override string Name => "nst";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.All(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.NeuronSelectivityTransfer(student, teacher);
}
