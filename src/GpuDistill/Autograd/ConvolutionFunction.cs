using GpuDistill.Interop;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>
/// A stride-1, zero-padded "same" convolution without bias whose gradients are computed with forward convolutions, so
/// that all three passes can run libtorch's oneDNN forward convolutions where they are right on this project's
/// machine (and fast), and none runs oneDNN's convolution backward (wrong here; see <see cref="TorchBackends"/>). Its
/// apply arguments are (input [B, Ci, H, W], weight [Co, Ci, kh, kw]) with odd kh and kw; <see cref="Models.SameConv2d"/>
/// checks them.
/// </summary>
/// <remarks>
/// With y = conv(x, w) padded by p = k / 2: dx = conv(dy, w transposed in its channels and flipped in space), padded
/// by k - 1 - p (= p); dw[o, i] = sum over the batch of conv(x[:, i], dy[:, o]), which is one convolution of x with
/// its batch and channel axes swapped by dy with the same swap, padded by p. That convolution's input channels are
/// the batch size; where oneDNN would get it wrong (<see cref="TorchBackends.OneDnnConvolutionIsRight"/>), and for a
/// first layer (Ci k^2 below 32, which oneDNN's large-kernel convolution does slowly), dw is a batched matrix product
/// of dy with the unfolded input instead.
/// </remarks>
internal sealed class ConvolutionFunction : autograd.SingleTensorFunction<ConvolutionFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.SameConvolution";

    /// <summary>The convolution itself, as every pass runs it.</summary>
    internal static Tensor Convolve(Tensor input, Tensor weight)
    {
        using TorchBackends.OneDnnScope fast = TorchBackends.ForwardConvolutions(weight.shape[1]);
        return nn.functional.conv2d(input, weight, padding: [weight.shape[2] / 2, weight.shape[3] / 2]);
    }

    /// <inheritdoc/>
    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(vars);
        var input = (Tensor)vars[0];
        var weight = (Tensor)vars[1];
        ctx.save_for_backward([input, weight]);
        return Convolve(input, weight);
    }

    /// <inheritdoc/>
    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad_output)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        // Runs inside libtorch's backward callback, where an exception would end the process: nothing here throws.
        List<Tensor> saved = ctx.get_saved_variables();
        Tensor input = saved[0], weight = saved[1];
        // A double backward (create_graph) records these convolutions: there only libtorch's own, recordable ones run.
        bool oneDnn = !is_grad_enabled();
        long kh = weight.shape[2], kw = weight.shape[3];
        Tensor? inputGradient = null;
        if (input.requires_grad)
        {
            using Tensor flipped = weight.transpose(0, 1).flip(2, 3);
            using TorchBackends.OneDnnScope fast = oneDnn ? TorchBackends.ForwardConvolutions(flipped.shape[1]) : default;
            inputGradient = nn.functional.conv2d(grad_output, flipped, padding: [kh - 1 - kh / 2, kw - 1 - kw / 2]);
        }
        return [inputGradient!, WeightGradient(input, grad_output, kh, kw, oneDnn)];
    }

    private static Tensor WeightGradient(Tensor input, Tensor gradOutput, long kh, long kw, bool oneDnn)
    {
        long batch = input.shape[0], inChannels = input.shape[1], outChannels = gradOutput.shape[1];
        long[] padding = [kh / 2, kw / 2];
        if (oneDnn && inChannels * kh * kw >= 32 && TorchBackends.OneDnnConvolutionIsRight(batch))
        {
            using Tensor swappedInput = input.transpose(0, 1);
            using Tensor swappedGradient = gradOutput.transpose(0, 1);
            using TorchBackends.OneDnnScope fast = TorchBackends.ForwardConvolutions(batch);
            using Tensor swapped = nn.functional.conv2d(swappedInput, swappedGradient, padding: padding); // [Ci, Co, kh, kw]
            return swapped.transpose(0, 1).contiguous();
        }
        using var scope = NewDisposeScope();
        Tensor columns = nn.functional.unfold(input, (kh, kw), padding: (padding[0], padding[1])); // [B, Ci k^2, HW]
        Tensor perImage = gradOutput.reshape(batch, outChannels, -1).bmm(columns.transpose(1, 2)); // [B, Co, Ci k^2]
        return perImage.sum(0, keepdim: false).reshape(outChannels, inChannels, kh, kw).MoveToOuterDisposeScope();
    }
}
