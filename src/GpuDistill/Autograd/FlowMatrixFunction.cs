using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.Relations.FlowMatrix;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>An FSP call: the device (the four layers arrive as [B, C, HW] tensors, already validated and pooled).</summary>
/// <param name="Device">The accelerator to run on.</param>
internal sealed record FlowMatrixRequest(ComputeDevice Device);

/// <summary>
/// TorchSharp autograd function over <see cref="FlowMatrixLauncher"/>. Its apply arguments are (student bottom,
/// student top, teacher bottom, teacher top, request), each layer [B, C, HW]; both student layers get gradients.
/// </summary>
internal sealed class FlowMatrixFunction : FusedGradientsFunction<FlowMatrixFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.FlowMatrix";

    /// <inheritdoc/>
    protected override (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars)
    {
        var request = (FlowMatrixRequest)vars[4];
        ComputeDevice device = request.Device;
        using Tensor sb = ((Tensor)vars[0]).detach().contiguous();
        using Tensor st = ((Tensor)vars[1]).detach().contiguous();
        using Tensor tb = ((Tensor)vars[2]).detach().contiguous();
        using Tensor tt = ((Tensor)vars[3]).detach().contiguous();
        int batch = (int)sb.shape[0];
        Tensor bottomGradient = empty_like(sb);
        Tensor topGradient = empty_like(st);
        using Tensor rowLoss = empty(batch, ScalarType.Float32);

        lock (device.LaunchLock)
        {
            using var dsb = DeviceArray<float>.ForInput(device, sb);
            using var dst = DeviceArray<float>.ForInput(device, st);
            using var dtb = DeviceArray<float>.ForInput(device, tb);
            using var dtt = DeviceArray<float>.ForInput(device, tt);
            using var dgb = DeviceArray<float>.ForOutput(device, bottomGradient);
            using var dgt = DeviceArray<float>.ForOutput(device, topGradient);
            using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
            device.Kernels<FlowMatrixLauncher>().Run(dsb.View, dst.View, dtb.View, dtt.View, dgb.View, dgt.View, dr.View,
                batch, (int)sb.shape[1], (int)st.shape[1], (int)sb.shape[2], (int)tb.shape[2]);
            dgb.CopyToTensor();
            dgt.CopyToTensor();
            dr.CopyToTensor();
        }

        double loss = RowLosses.Sum(rowLoss);
        if (!double.IsFinite(loss))
        {
            bottomGradient.Dispose();
            topGradient.Dispose();
            throw new ArgumentException(
                "The loss overflowed float32: the feature maps' channel products must stay within float32 range (scale them down).",
                "studentBottom");
        }
        // A layer that does not learn (e.g. a frozen stem) gets no gradient rather than one autograd would drop.
        return (tensor((float)loss), [Keep(bottomGradient, (Tensor)vars[0]), Keep(topGradient, (Tensor)vars[1])]);
    }

    private static Tensor? Keep(Tensor gradient, Tensor input)
    {
        if (input.requires_grad) return gradient;
        gradient.Dispose();
        return null;
    }
}
