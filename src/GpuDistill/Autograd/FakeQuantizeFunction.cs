using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.Quantization;
using GpuDistill.Quantization;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>What a fake-quantization call needs besides its input (already validated).</summary>
/// <param name="Device">The accelerator the kernels run on (a host device's CPU accelerator for <c>simd</c>).</param>
/// <param name="Scales">s per row (one row: per tensor).</param>
/// <param name="ZeroPoints">zp per row, as floats.</param>
/// <param name="Grid">The integer grid.</param>
/// <param name="InputName">The caller's name of the input, for the non-finite error.</param>
internal sealed record FakeQuantizeRequest(ComputeDevice Device, float[] Scales, float[] ZeroPoints, IntegerGrid Grid, string InputName);

/// <summary>
/// Fake quantization with the straight-through estimator: forward runs the fused kernel that yields x^ and the mask
/// together and saves the mask; backward passes the upstream gradient where the
/// mask is set and 0 where the value was clamped. Its apply arguments are (input, request).
/// </summary>
internal sealed class FakeQuantizeFunction : autograd.SingleTensorFunction<FakeQuantizeFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.FakeQuantize";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var input = (Tensor)vars[0];
        var request = (FakeQuantizeRequest)vars[1];
        (Tensor output, Tensor passes) = Run(input, request);
        ctx.save_for_backward([passes]);
        return output;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        Tensor passes = ctx.get_saved_variables()[0];
        return [grad_output.mul(passes), null!];
    }

    /// <summary>x^ and the mask (bool), both shaped like the input.</summary>
    internal static (Tensor Output, Tensor Passes) Run(Tensor input, FakeQuantizeRequest request)
    {
        using Tensor x = input.detach().contiguous();
        Tensor output = empty_like(x);
        Tensor passes = empty(x.shape, ScalarType.Bool);
        using Tensor scales = tensor(request.Scales);
        using Tensor zeroPoints = tensor(request.ZeroPoints);
        int bad;
        ComputeDevice device = request.Device;
        lock (device.LaunchLock)
        {
            using var dx = DeviceArray<float>.ForInput(device, x);
            using var ds = DeviceArray<float>.ForInput(device, scales);
            using var dz = DeviceArray<float>.ForInput(device, zeroPoints);
            using var dOutput = DeviceArray<float>.ForOutput(device, output);
            using var dPasses = DeviceArray<byte>.ForOutput(device, passes);
            bad = device.Kernels<QuantizationLauncher>().FakeQuantize(dx.View, ds.View, dz.View, dOutput.View,
                dPasses.View, (int)(x.numel() / request.Scales.Length), request.Grid.Minimum, request.Grid.Maximum);
            dOutput.CopyToTensor();
            dPasses.CopyToTensor();
        }
        if (bad > 0)
        {
            output.Dispose();
            passes.Dispose();
            throw NonFinite(request.InputName, bad);
        }
        return (output, passes);
    }

    internal static ArgumentException NonFinite(string name, long count = -1) => new(
        count > 0 ? $"{name} must be finite; it holds {count} NaN or infinite values." : $"{name} must be finite; it holds NaN or infinite values.",
        name);
}
