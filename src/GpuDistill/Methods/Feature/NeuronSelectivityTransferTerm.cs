using GpuDistill.Models;
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

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher) =>
        Losses.NeuronSelectivityTransfer(student, teacher);
}
