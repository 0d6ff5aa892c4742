using GpuDistill.Autograd;
using GpuDistill.Compute;
using GpuDistill.Kernels.BatchNormStatistics;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// DeepInversion's batch-norm statistics loss (Yin et al. 2020, loss-spec-2 7.2) over every given BN layer:
    /// sum_l w_l (||var_l - var_l^run||_2 + ||mu_l - mu_l^run||_2), with mu and the biased var taken per channel over
    /// batch and space of the layer's input, and the two norms not squared.
    /// </summary>
    /// <remarks>
    /// One fused kernel family for all layers at once (two launches over the concatenated inputs: the statistics, then
    /// the norms, the loss and the gradient). <c>loss.backward()</c> gives each layer's input
    /// (w/N)(2 g_v (a - mu) + g_m) times the upstream gradient, g = (stat - run) / max(norm, 1e-12) per channel; autograd
    /// adds it to what the rest of the network sends through that input, and so on back to the images or generator.
    /// The teacher must be in eval mode (its forward normalises with the running statistics, the loss uses the batch's).
    /// On a host <c>simd</c> device it runs on ILGPU's CPU accelerator.
    /// </remarks>
    /// <param name="layers">The BN layers' inputs, running statistics and weights, at least one.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout (a thread or a group per channel); auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor BatchNormStatistics(IReadOnlyList<BatchNormStatisticsInput> layers, ComputeDevice? device = null,
        RowLayout layout = RowLayout.Auto)
    {
        ArgumentNullException.ThrowIfNull(layers);
        TensorChecks.RequireDefined(layout, nameof(layout));
        if (layers.Count == 0)
            throw new ArgumentException("layers must hold at least one batch-norm layer (a teacher without BN layers has no statistics to match).", nameof(layers));

        var shapes = new BatchNormLayer[layers.Count];
        long elements = 0;
        for (int l = 0; l < layers.Count; l++)
        {
            BatchNormStatisticsInput layer = layers[l] ?? throw new ArgumentException($"layers[{l}] is null.", nameof(layers));
            (int batch, int channels, int height, int width) = TensorChecks.RequireFeature(layer.Input, $"layers[{l}].Input");
            RequireRunningStatistic(layer.RunningMean, $"layers[{l}].RunningMean", channels);
            RequireRunningStatistic(layer.RunningVariance, $"layers[{l}].RunningVariance", channels);
            using (var scope = NewDisposeScope())
            {
                if (layer.RunningVariance.lt(0).any().item<bool>())
                    throw new ArgumentException($"layers[{l}].RunningVariance must be >= 0.", $"layers[{l}].RunningVariance");
            }
            TensorChecks.RequireWeight(layer.Weight, $"layers[{l}].Weight");
            shapes[l] = new BatchNormLayer(batch, channels, height * width, (float)layer.Weight);
            elements += layer.Input.numel();
        }
        if (elements > int.MaxValue)
            throw new ArgumentException($"The layers' inputs hold {elements} values in all; at most 2^31 - 1.", nameof(layers));
        // The launcher's own checks (sizes per channel, channels in all) as ArgumentExceptions naming layers.
        BatchNormStatisticsLauncher.Place(shapes);

        using var running = NewDisposeScope();
        Tensor statistics = cat(
            [.. layers.Select(l => l.RunningMean.detach().reshape(-1)), .. layers.Select(l => l.RunningVariance.detach().reshape(-1))],
            0).contiguous();
        var request = new BatchNormStatisticsRequest(device ?? ComputeDevice.Default, layout, shapes, statistics);
        object[] args = [.. layers.Select(l => (object)l.Input), request];
        return BatchNormStatisticsFunction.apply(args).MoveToOuterDisposeScope();
    }

    private static void RequireRunningStatistic(Tensor? statistic, string name, int channels)
    {
        TensorChecks.RequireFloatCpu(statistic, name, 1);
        if (statistic!.shape[0] != channels)
            throw new ArgumentException($"{name} must have shape [{channels}] (the input's channels); got {TensorChecks.Shape(statistic)}.", name);
        TensorChecks.RequireFinite(statistic, name);
    }
}
