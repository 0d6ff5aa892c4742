using System.Diagnostics.CodeAnalysis;
using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Interop;
using GpuDistill.Validation;
using ILGPU.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the feature tensor that one attention-map call needs (validated).</summary>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Parameters">The map scalars.</param>
internal sealed record AttentionMapRequest(ComputeDevice Device, AttentionMapParameters Parameters);

/// <summary>
/// TorchSharp autograd function over the attention-map kernels: a feature [B, C, H, W] in, its attention map
/// [B, H*W] out; the backward launches the map's backward kernels on the upstream gradient. Its apply arguments are
/// (feature, <see cref="AttentionMapRequest"/>).
/// </summary>
internal sealed class AttentionMapFunction : autograd.SingleTensorFunction<AttentionMapFunction>
{
    private const string RequestKey = "request";

    /// <inheritdoc/>
    public override string Name => "GpuDistill.AttentionMap";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var feature = (Tensor)vars[0];
        var request = (AttentionMapRequest)vars[1];
        AttentionMapParameters m = request.Parameters;
        ComputeDevice device = request.Device;

        Tensor f = feature.detach().contiguous();
        Tensor map = empty(m.Batch, m.Positions);
        Tensor norms = empty(m.Batch);
        AttentionTransferLauncher launcher = device.Kernels<AttentionTransferLauncher>();
        lock (device.LaunchLock)
        {
            using var df = DeviceArray<float>.ForInput(device, f);
            using var dm = DeviceArray<float>.ForOutput(device, map);
            using var dn = DeviceArray<float>.ForOutput(device, norms);
            launcher.LaunchMap(df.View, dm.View, dn.View, m);
            device.Accelerator.Synchronize();
            dm.CopyToTensor();
            dn.CopyToTensor();
        }

        bool finite;
        using (Tensor isFinite = norms.isfinite())
        using (Tensor all = isFinite.all())
            finite = all.item<bool>();
        if (!finite)
        {
            TensorChecks.RequireFiniteFeatures(f, "feature");
            throw new ArgumentException(
                $"The attention map overflowed float32: |f|^p with p = {m.Exponent} summed over channels must stay within float32 range.",
                "feature");
        }

        if (feature.requires_grad)
        {
            // The returned map becomes the function's output; the backward gets its own copy, so that no saved
            // tensor is an output of the node that saves it.
            ctx.save_for_backward([f, map.clone(), norms]);
            ctx.save_data(RequestKey, request);
        }
        return map;
    }

    /// <inheritdoc/>
    [SuppressMessage("Design", "CA1031:Do not catch general exception types",
        Justification = "Runs inside libtorch's backward callback, where an escaping exception ends the process.")]
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(grad_output);
        List<Tensor> saved = ctx.get_saved_variables();
        (Tensor f, Tensor map, Tensor norms) = (saved[0], saved[1], saved[2]);
        var request = (AttentionMapRequest)ctx.get_data(RequestKey);
        AttentionMapParameters m = request.Parameters;
        ComputeDevice device = request.Device;

        Tensor gradient = empty_like(f);
        try
        {
            using Tensor upstream = grad_output.to_type(ScalarType.Float32).contiguous();
            AttentionTransferLauncher launcher = device.Kernels<AttentionTransferLauncher>();
            lock (device.LaunchLock)
            {
                Accelerator accelerator = device.Accelerator;
                using var df = DeviceArray<float>.ForInput(device, f);
                using var dm = DeviceArray<float>.ForInput(device, map);
                using var dn = DeviceArray<float>.ForInput(device, norms);
                using var du = DeviceArray<float>.ForInput(device, upstream);
                using var dg = DeviceArray<float>.ForOutput(device, gradient);
                using var mapGradient = accelerator.Allocate1D<float>(m.MapEntries);
                launcher.LaunchMapBackward(df.View, dm.View, dn.View, du.View, mapGradient.View, dg.View, m);
                accelerator.Synchronize();
                dg.CopyToTensor();
            }
        }
        catch (Exception)
        {
            // The kernels were compiled and the shapes checked in forward, so this is a device failure; a NaN
            // gradient makes it visible in the training loss instead of killing the process.
            using Scalar nan = float.NaN.ToScalar();
            gradient.fill_(nan);
        }
        return [gradient, null!];
    }
}
