using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// DeepInversion's L2 total-variation prior (Yin et al. 2020, loss-spec-2 7.2): the sum of the Frobenius norms (not
    /// squared, not normalised by size) of the four neighbour differences of the images: horizontal, vertical and the
    /// two diagonals. Smooths synthetic images.
    /// </summary>
    /// <remarks>A TorchSharp composition; <c>loss.backward()</c> differentiates it (a norm of 0 gets gradient 0).</remarks>
    /// <param name="images">Images [B, C, H, W], float32, H and W at least 2, on any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor TotalVariationL2(Tensor images)
    {
        RequireImagesForPriors(images, nameof(images), neighbours: true);
        using var scope = NewDisposeScope();
        return stack(NeighbourDifferences(images).Select(d => d.norm())).sum().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DeepInversion's L1 total-variation prior: the sum over the four neighbour differences (horizontal, vertical,
    /// two diagonals) of the mean absolute difference (its code's /255 and *255 cancel).
    /// </summary>
    /// <remarks>A TorchSharp composition; at a zero difference the gradient is 0 (sign(0) = 0).</remarks>
    /// <param name="images">Images [B, C, H, W], float32, H and W at least 2, on any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor TotalVariationL1(Tensor images)
    {
        RequireImagesForPriors(images, nameof(images), neighbours: true);
        using var scope = NewDisposeScope();
        return stack(NeighbourDifferences(images).Select(d => d.abs().mean())).sum().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// DeepInversion's L2 image prior: the plain (not squared) L2 norm of each image, averaged over the batch,
    /// (1/B) sum_i ||x_i||_2. Keeps synthetic pixels small.
    /// </summary>
    /// <remarks>A TorchSharp composition; an all-zero image gets gradient 0.</remarks>
    /// <param name="images">Images [B, ...], float32, on any device.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor ImageL2Prior(Tensor images)
    {
        RequireImagesForPriors(images, nameof(images), neighbours: false);
        using var scope = NewDisposeScope();
        return images.flatten(1).norm(1).mean().MoveToOuterDisposeScope();
    }

    /// <summary>x[.., :, :-1] - x[.., :, 1:], x[.., :-1, :] - x[.., 1:, :], and the two diagonals, as DeepInversion takes them.</summary>
    private static Tensor[] NeighbourDifferences(Tensor x)
    {
        long h = x.shape[2], w = x.shape[3];
        Tensor Crop(long top, long left, long height, long width) => x.narrow(2, top, height).narrow(3, left, width);
        return
        [
            Crop(0, 0, h, w - 1) - Crop(0, 1, h, w - 1),
            Crop(0, 0, h - 1, w) - Crop(1, 0, h - 1, w),
            Crop(1, 0, h - 1, w - 1) - Crop(0, 1, h - 1, w - 1),
            Crop(0, 0, h - 1, w - 1) - Crop(1, 1, h - 1, w - 1),
        ];
    }

    private static void RequireImagesForPriors(Tensor images, string name, bool neighbours)
    {
        TensorChecks.RequireFeatures(images, name, neighbours ? 4 : null);
        if (neighbours && (images.shape[2] < 2 || images.shape[3] < 2))
            throw new ArgumentException($"{name} must be at least 2x2 to have neighbours; got shape {TensorChecks.Shape(images)}.", name);
    }
}
