using GpuDistill.Autograd;
using GpuDistill.Interop;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// A 2-D convolution with stride 1, "same" zero padding (k / 2 on each side, odd k) and no bias: the convolution of
/// the library's CNNs. Unlike TorchSharp's <c>Conv2d</c> it trains through <see cref="ConvolutionFunction"/>, whose
/// forward and backward are all forward convolutions, so its passes run libtorch's fast oneDNN convolutions where
/// they are right and never oneDNN's convolution backward, which corrupts gradients on this project's machine (see
/// <see cref="Interop.TorchBackends"/>).
/// </summary>
/// <remarks>Its one parameter is <c>weight</c> [out, in / groups, kh, kw], as in <c>Conv2d</c>, so checkpoints are the
/// same. With groups equal to the input channels it is a depthwise convolution (MobileNet's separable blocks); a
/// grouped convolution runs libtorch's own convolution and autograd, with oneDNN off.</remarks>
public sealed class SameConv2d : Module<Tensor, Tensor>
{
    /// <summary>Creates the layer with a zero weight (<see cref="WeightInit"/> fills it; zeros, not uninitialised memory,
    /// so a layer used before that computes zeros instead of whatever the memory held).</summary>
    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels.</param>
    /// <param name="kernelSize">Kernel height and width, odd and positive.</param>
    /// <param name="groups">Groups of channels convolved apart (1: dense); it divides both channel counts.</param>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive channel count or group count, groups that do not
    /// divide the channels, or an even or non-positive kernel size.</exception>
    public SameConv2d(long inChannels, long outChannels, (long Height, long Width) kernelSize, long groups = 1)
        : base(nameof(SameConv2d))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(inChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(outChannels);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groups);
        if (inChannels % groups != 0 || outChannels % groups != 0)
            throw new ArgumentOutOfRangeException(nameof(groups), groups, $"groups must divide both channel counts ({inChannels} in, {outChannels} out).");
        if (kernelSize.Height < 1 || kernelSize.Width < 1 || kernelSize.Height % 2 == 0 || kernelSize.Width % 2 == 0)
            throw new ArgumentOutOfRangeException(nameof(kernelSize), kernelSize, "kernel sizes must be odd and positive.");
        Groups = groups;
        weight = new Parameter(zeros(outChannels, inChannels / groups, kernelSize.Height, kernelSize.Width));
        // Registered by name, not by RegisterComponents (which would name it after the property's backing field), so
        // the state key is "weight" as in Conv2d; Checkpoint still reads files saved under the backing field's name.
        register_parameter("weight", weight);
    }

    /// <summary>The kernel [out, in / groups, kh, kw].</summary>
    public Parameter weight { get; }

    /// <summary>Groups of channels convolved apart (1: dense; the input channels: depthwise).</summary>
    public long Groups { get; }

    /// <summary>Input channels.</summary>
    public long InChannels => weight.shape[1] * Groups;

    /// <summary>Output channels.</summary>
    public long OutChannels => weight.shape[0];

    /// <summary>Kernel height and width.</summary>
    public long[] KernelSize => [weight.shape[2], weight.shape[3]];

    /// <summary>Zero padding on each side (height, width): k / 2.</summary>
    public long[] Padding => [weight.shape[2] / 2, weight.shape[3] / 2];

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => Convolve(input, weight, "input", Groups);

    /// <summary>
    /// The convolution of <paramref name="input"/> with <paramref name="kernel"/> (stride 1, same zero padding, no bias),
    /// recording its gradient through <see cref="ConvolutionFunction"/> when either needs one (a grouped convolution:
    /// through libtorch's own autograd).
    /// </summary>
    /// <param name="input">[B, in, H, W], float32.</param>
    /// <param name="kernel">[out, in / groups, kh, kw], odd kh and kw (the layer's weight, or a quantized copy of it).</param>
    /// <param name="inputName">The caller's name of the input, for errors.</param>
    /// <param name="groups">Groups of channels convolved apart (1: dense).</param>
    /// <returns>[B, out, H, W].</returns>
    /// <exception cref="ArgumentException">The input is not 4-D float32 with the kernel's input channels times
    /// <paramref name="groups"/>, or the groups do not divide the kernel's output channels.</exception>
    public static Tensor Convolve(Tensor input, Tensor kernel, string inputName, long groups = 1)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(groups);
        if (kernel.shape[0] % groups != 0)
            throw new ArgumentException($"{groups} groups must divide the kernel's {kernel.shape[0]} output channels.", nameof(groups));
        long inChannels = kernel.shape[1] * groups;
        if (input.IsInvalid || input.dim() != 4 || input.dtype != ScalarType.Float32 || input.shape[1] != inChannels)
        {
            string shape = input.IsInvalid ? "a disposed tensor" : $"[{string.Join(", ", input.shape)}] {input.dtype}";
            throw new ArgumentException(
                $"{inputName} must be [B, {inChannels}, H, W] float32 for a convolution with {inChannels} input channels; got {shape}.",
                inputName);
        }
        if (groups > 1)
        {
            // A grouped (depthwise) convolution runs libtorch's own, gradients included: with oneDNN off
            // (TorchBackends.UseCorrectConvolutions) its native kernels are right, and measured here (batch 128, 12
            // channels 28x28, one thread) its backward took a quarter of the time of the same gradients written
            // as forward convolutions and shifted products inside ConvolutionFunction.
            TorchBackends.UseCorrectConvolutions();
            return nn.functional.conv2d(input, kernel, padding: [kernel.shape[2] / 2, kernel.shape[3] / 2], groups: groups);
        }
        bool records = is_grad_enabled() && (input.requires_grad || kernel.requires_grad);
        return records ? ConvolutionFunction.apply(input, kernel) : ConvolutionFunction.Convolve(input, kernel);
    }
}
