using GpuDistill.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// Captures the input of every batch-norm layer of a model (the library's <see cref="BatchNormalization2d"/> and
/// TorchSharp's <c>BatchNorm2d</c>, in module order) during its forward pass, for DeepInversion's statistics loss
/// (<see cref="Losses.BatchNormStatistics"/>): build it once on the teacher, run the teacher on the synthetic batch,
/// then pass <see cref="Layers"/> to the loss.
/// </summary>
/// <remarks>
/// The inputs are taken by forward hooks (<see cref="FeatureCapture"/>), so they carry the autograd history back to
/// the images; ownership is as there: valid until the next forward pass or <see cref="Clear"/> (call it once per step).
/// The hook takes a layer's input, not its output: DeepInversion compares the statistics of what the layer receives.
/// </remarks>
public sealed class BatchNormInputCapture : IDisposable
{
    private readonly FeatureCapture capture;
    private readonly List<(string Path, Module Layer, Tensor RunningMean, Tensor RunningVariance)> layers = [];

    /// <summary>Hooks every batch-norm layer of <paramref name="model"/>.</summary>
    /// <param name="model">The teacher (or any module).</param>
    /// <exception cref="ArgumentException">The model has no batch-norm layer, or one without running statistics.</exception>
    public BatchNormInputCapture(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach ((string name, Module module) in model.named_modules())
        {
            switch (module)
            {
                case BatchNormalization2d bn:
                    layers.Add((name, bn, bn.RunningMean, bn.RunningVariance));
                    break;
                case BatchNorm2d bn:
                    if (bn.running_mean is null || bn.running_var is null)
                        throw new ArgumentException($"Batch-norm layer '{name}' keeps no running statistics (track_running_stats is off); DeepInversion matches them.", nameof(model));
                    layers.Add((name, bn, bn.running_mean, bn.running_var));
                    break;
                default:
                    break;
            }
        }
        if (layers.Count == 0)
        {
            throw new ArgumentException(
                $"Model '{model.GetName()}' has no batch-norm layer (BatchNormalization2d or BatchNorm2d); DeepInversion's statistics loss needs at least one.",
                nameof(model));
        }
        if (layers.Any(l => l.Path.Length == 0))
            throw new ArgumentException("The model is itself a batch-norm layer; capture the network that contains it.", nameof(model));
        capture = new FeatureCapture(model, layers.Select(l => l.Path + ":in"));
    }

    /// <summary>The module paths of the hooked layers, in module order.</summary>
    public IReadOnlyList<string> LayerNames => [.. layers.Select(l => l.Path)];

    /// <summary>
    /// The captured inputs of the last forward pass with each layer's running statistics, ready for
    /// <see cref="Losses.BatchNormStatistics"/>: the first layer weighted <paramref name="firstLayerWeight"/>, the
    /// others 1 (DeepInversion's first_bn_multiplier, 10 in its code).
    /// </summary>
    /// <param name="firstLayerWeight">w_1, finite and &gt;= 0.</param>
    /// <returns>One entry per layer, in module order (the tensors belong to this capture).</returns>
    /// <exception cref="InvalidOperationException">No forward pass since the last <see cref="Clear"/>, or a layer is in
    /// training mode (it would normalise with the synthetic batch's statistics and move its running ones).</exception>
    public IReadOnlyList<BatchNormStatisticsInput> Layers(double firstLayerWeight = 1.0)
    {
        if (!double.IsFinite(firstLayerWeight) || firstLayerWeight < 0)
            throw new ArgumentOutOfRangeException(nameof(firstLayerWeight), firstLayerWeight, "firstLayerWeight must be finite and >= 0.");
        var result = new List<BatchNormStatisticsInput>(layers.Count);
        for (int i = 0; i < layers.Count; i++)
        {
            (string path, Module layer, Tensor mean, Tensor variance) = layers[i];
            if (layer.training)
                throw new InvalidOperationException($"Batch-norm layer '{path}' is in training mode; call eval() on the teacher before inverting it.");
            result.Add(new BatchNormStatisticsInput(capture[path + ":in"], mean, variance, i == 0 ? firstLayerWeight : 1.0));
        }
        return result;
    }

    /// <summary>Frees the captured inputs (call once per step).</summary>
    public void Clear() => capture.Clear();

    /// <summary>Removes the hooks and frees the captures.</summary>
    public void Dispose() => capture.Dispose();
}
