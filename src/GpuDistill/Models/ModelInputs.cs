using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Models;

/// <summary>Input checks shared by the models, so a wrong shape fails with a message instead of inside libtorch.</summary>
internal static class ModelInputs
{
    /// <summary>Requires images [B, 1, 28, 28] of a floating-point type with B &gt; 0.</summary>
    public static void RequireImages(Tensor input, string name)
    {
        RequireUsable(input, name);
        if (input.dim() != 4 || input.shape[0] == 0 || input.shape[1] != DistillModel.ImageChannels
            || input.shape[2] != DistillModel.ImageSize || input.shape[3] != DistillModel.ImageSize)
        {
            throw new ArgumentException(
                $"{name} must be images [B, {DistillModel.ImageChannels}, {DistillModel.ImageSize}, {DistillModel.ImageSize}] with B > 0; got {TensorChecks.Shape(input)}.", name);
        }
    }

    /// <summary>Accepts [B, 1, 28, 28], [B, 28, 28] or [B, 784] and returns a [B, 784] view (a new tensor handle).</summary>
    public static Tensor FlattenImages(Tensor input, string name)
    {
        RequireUsable(input, name);
        const long pixels = (long)DistillModel.ImageChannels * DistillModel.ImageSize * DistillModel.ImageSize;
        long[] s = input.shape;
        bool ok = s.Length > 0 && s[0] > 0 && s.Length switch
        {
            2 => s[1] == pixels,
            3 => s[1] == DistillModel.ImageSize && s[2] == DistillModel.ImageSize,
            4 => s[1] == DistillModel.ImageChannels && s[2] == DistillModel.ImageSize && s[3] == DistillModel.ImageSize,
            _ => false,
        };
        if (!ok)
            throw new ArgumentException($"{name} must be [B, 1, 28, 28], [B, 28, 28] or [B, 784] with B > 0; got {TensorChecks.Shape(input)}.", name);
        return input.reshape(input.shape[0], pixels);
    }

    private static void RequireUsable(Tensor input, string name)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        if (input.IsInvalid)
            throw new ArgumentException($"{name} has been disposed.", name);
        if (!input.is_floating_point())
            throw new ArgumentException($"{name} must be a floating-point tensor; got {input.dtype}.", name);
    }
}
