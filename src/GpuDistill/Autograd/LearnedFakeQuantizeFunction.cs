using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.Quantization;
using GpuDistill.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>What an LSQ call needs besides its input and step (already validated).</summary>
/// <param name="Device">Where to run.</param>
/// <param name="Grid">[Qn, Qp].</param>
/// <param name="GradientScale">LSQ's g = 1 / sqrt(N Qp), applied to the step's gradient.</param>
internal sealed record LearnedFakeQuantizeRequest(ComputeDevice Device, IntegerGrid Grid, double GradientScale);

/// <summary>
/// LSQ fake quantization (Esser et al. 2020, loss-spec-2 8.1): forward runs the fused kernel yielding x^, the mask and d x^ / d s per element; backward gives the input the upstream gradient
/// where the mask is set, and the step g * sum(upstream * d x^ / d s). Its apply arguments are (input, step, request).
/// </summary>
internal sealed class LearnedFakeQuantizeFunction : autograd.SingleTensorFunction<LearnedFakeQuantizeFunction>
{
    private const string GradientScaleKey = "gradientScale";
    private const string StepShapeKey = "stepShape";

    /// <inheritdoc/>
    public override string Name => "GpuDistill.LearnedFakeQuantize";

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var input = (Tensor)vars[0];
        var step = (Tensor)vars[1];
        var request = (LearnedFakeQuantizeRequest)vars[2];
        float scale = step.detach().item<float>();
        (Tensor output, Tensor passes, Tensor stepGradient) = Run(input, scale, request);
        ctx.save_for_backward([passes, stepGradient]);
        ctx.save_data(GradientScaleKey, request.GradientScale);
        ctx.save_data(StepShapeKey, step.shape);
        return output;
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        List<Tensor> saved = ctx.get_saved_variables();
        using Scalar g = ((double)ctx.get_data(GradientScaleKey)).ToScalar();
        using Tensor weighted = grad_output.mul(saved[1]);
        using Tensor sum = weighted.sum();
        Tensor stepGradient = sum.mul(g).reshape((long[])ctx.get_data(StepShapeKey));
        return [grad_output.mul(saved[0]), stepGradient, null!];
    }

    private static (Tensor Output, Tensor Passes, Tensor StepGradient) Run(Tensor input, float scale, LearnedFakeQuantizeRequest request)
    {
        using Tensor x = input.detach().contiguous();
        Tensor output = empty_like(x);
        Tensor passes = empty(x.shape, ScalarType.Bool);
        Tensor stepGradient = empty_like(x);
        int bad;
        ComputeDevice device = request.Device;
        lock (device.LaunchLock)
        {
            using var dx = DeviceArray<float>.ForInput(device, x);
            using var dOutput = DeviceArray<float>.ForOutput(device, output);
            using var dPasses = DeviceArray<byte>.ForOutput(device, passes);
            using var dStep = DeviceArray<float>.ForOutput(device, stepGradient);
            bad = device.Kernels<QuantizationLauncher>().FakeQuantizeLearned(dx.View, dOutput.View, dPasses.View,
                dStep.View, scale, request.Grid.Minimum, request.Grid.Maximum);
            dOutput.CopyToTensor();
            dPasses.CopyToTensor();
            dStep.CopyToTensor();
        }
        if (bad > 0)
        {
            output.Dispose();
            passes.Dispose();
            stepGradient.Dispose();
            throw FakeQuantizeFunction.NonFinite(nameof(input), bad);
        }
        return (output, passes, stepGradient);
    }
}
