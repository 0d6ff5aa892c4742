using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.BatchNormStatistics;
using GpuDistill.Kernels.Rows;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the BN inputs that one statistics-loss call needs (already validated).</summary>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Layout">The kernel thread layout (a "row" is a channel).</param>
/// <param name="Layers">Each layer's shape and weight, in order.</param>
/// <param name="RunningStatistics">The running means of all layers, then their running variances, float32 [2 K].</param>
internal sealed record BatchNormStatisticsRequest(ComputeDevice Device, RowLayout Layout, BatchNormLayer[] Layers,
    Tensor RunningStatistics);

/// <summary>
/// Autograd function over <see cref="BatchNormStatisticsLauncher"/>: the inputs of every BN layer in, the summed
/// statistics loss out, and each input's gradient saved for backward. Its apply arguments are (input_1, ...,
/// input_L, <see cref="BatchNormStatisticsRequest"/>). The inputs are concatenated into one buffer so that one pair
/// of launches covers all layers.
/// </summary>
internal sealed class BatchNormStatisticsFunction : FusedGradientsFunction<BatchNormStatisticsFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.BatchNormStatistics";

    /// <inheritdoc/>
    protected override (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars)
    {
        int count = vars.Length - 1;
        var request = (BatchNormStatisticsRequest)vars[count];
        Tensor[] inputs = [.. vars.Take(count).Cast<Tensor>()];
        ComputeDevice device = request.Device;

        Tensor flat;
        using (var flatScope = NewDisposeScope())
            flat = cat(inputs.Select(a => a.detach().reshape(-1)).ToList(), 0).contiguous().MoveToOuterDisposeScope();
        using Tensor input = flat;
        // [mean | variance | running mean | running variance], the first half written by the kernels.
        using Tensor values = cat([zeros(request.RunningStatistics.shape[0]), request.RunningStatistics], 0);
        Tensor gradient = empty_like(input);
        using Tensor layerLoss = empty(count, ScalarType.Float32);

        lock (device.LaunchLock)
        {
            using var di = DeviceArray<float>.ForInput(device, input);
            using var dv = DeviceArray<float>.ForInput(device, values);
            using var dg = DeviceArray<float>.ForOutput(device, gradient);
            using var dl = DeviceArray<float>.ForOutput(device, layerLoss);
            device.Kernels<BatchNormStatisticsLauncher>().Run(di.View, request.Layers, dv.View, dg.View, dl.View, request.Layout);
            dg.CopyToTensor();
            dl.CopyToTensor();
        }

        double loss = RowLosses.Sum(layerLoss);
        if (!double.IsFinite(loss))
        {
            gradient.Dispose();
            for (int l = 0; l < count; l++)
            {
                using var scope = NewDisposeScope();
                if (!inputs[l].isfinite().all().item<bool>())
                    throw new ArgumentException($"layers[{l}].Input must be finite; it holds NaN or infinity.", "layers");
            }
            throw new ArgumentException("The statistics loss overflowed float32: the batch-norm inputs' squares must stay within float32 range.", "layers");
        }

        var gradients = new Tensor?[count];
        long offset = 0;
        for (int l = 0; l < count; l++)
        {
            long size = inputs[l].numel();
            using Tensor part = gradient.narrow(0, offset, size);
            gradients[l] = part.view(inputs[l].shape);
            offset += size;
        }
        gradient.Dispose();
        return (tensor((float)loss), gradients);
    }
}
