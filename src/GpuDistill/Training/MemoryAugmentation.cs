using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// What is done to a draw from a <see cref="GeneratedImageMemory"/> before the student learns on it. Any augmentation
/// makes the teacher run again on the changed images, so the student is still taught the teacher's answer to exactly
/// what it sees. CMI and Fast-DFKD (Fang et al. 2021, 2022) augment their data pools the same way: the student fits a
/// fixed pool's stored answers to 98-100% agreement while its test accuracy stalls (docs/results/data-free-memory).
/// </summary>
public enum MemoryAugmentation
{
    /// <summary>The stored images and logits as they are (no teacher pass).</summary>
    None,

    /// <summary>Each image shifted by up to <see cref="MemoryAugmentations.MaxShift"/> pixels in each direction (the
    /// edge pixels repeated into the gap) and mirrored left-right with probability 1/2.</summary>
    ShiftFlip,

    /// <summary><see cref="ShiftFlip"/>, then each image mixed with another of the batch, x = λ a + (1 - λ) b with
    /// λ uniform in [0, 1] per image (mixup, Zhang et al. 2018): inputs between the generated modes.</summary>
    ShiftFlipMixup,
}

/// <summary>The <see cref="MemoryAugmentation"/> names and transforms.</summary>
public static class MemoryAugmentations
{
    /// <summary>The largest shift in pixels (the loader's crop padding on real images).</summary>
    public const int MaxShift = Data.BatchOptions.CropPadding;

    private static readonly (string Name, MemoryAugmentation Kind)[] Named =
        [("none", MemoryAugmentation.None), ("shift-flip", MemoryAugmentation.ShiftFlip), ("shift-flip-mixup", MemoryAugmentation.ShiftFlipMixup)];

    /// <summary>The setting names: "none", "shift-flip", "shift-flip-mixup".</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Named.Select(n => n.Name)];

    /// <summary>The augmentation a setting names.</summary>
    /// <exception cref="ArgumentException">Not one of <see cref="Names"/>.</exception>
    public static MemoryAugmentation Parse(string name)
    {
        foreach ((string known, MemoryAugmentation kind) in Named)
        {
            if (known == name) return kind;
        }
        throw new ArgumentException($"memoryAugmentation is '{name}'; expected one of {string.Join(", ", Names)}.", nameof(name));
    }

    /// <summary>The augmented copy of <paramref name="images"/> [B, C, H, W] (a new tensor, no gradient).</summary>
    /// <param name="images">The drawn images.</param>
    /// <param name="kind">What to do; <see cref="MemoryAugmentation.None"/> returns a copy.</param>
    /// <param name="random">The random stream of the shifts, mirrors, partners and weights.</param>
    public static Tensor Apply(Tensor images, MemoryAugmentation kind, TorchSharp.torch.Generator random)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.dim() != 4) throw new ArgumentException($"images has {images.dim()} dimensions; expected [B, C, H, W].", nameof(images));
        using var _ = no_grad();
        if (kind == MemoryAugmentation.None) return images.clone();
        using var scope = NewDisposeScope();
        Tensor result = ShiftFlip(images, random);
        if (kind == MemoryAugmentation.ShiftFlipMixup)
        {
            long batch = images.shape[0];
            Tensor partner = result.index_select(0, randperm(batch, generator: random));
            Tensor weight = rand([batch, 1, 1, 1], generator: random);
            result = result.mul(weight).add(partner.mul(weight.neg().add(1)));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <remarks>
    /// One sampling grid per image: an integer shift (in pixel steps of the normalised grid) and a sign on x for the
    /// mirror; nearest-neighbour sampling moves whole pixels, so nothing is blurred.
    /// </remarks>
    private static Tensor ShiftFlip(Tensor images, TorchSharp.torch.Generator random)
    {
        long batch = images.shape[0], height = images.shape[2], width = images.shape[3];
        Tensor shift = randint(-MaxShift, MaxShift + 1, [batch, 2], generator: random).to_type(ScalarType.Float32);
        Tensor mirror = randint(0, 2, [batch], generator: random).to_type(ScalarType.Float32).mul(-2).add(1);
        Tensor theta = zeros(batch, 2, 3);
        theta[TensorIndex.Colon, 0, 0] = mirror;
        theta[TensorIndex.Colon, 1, 1] = ones(batch);
        // With align_corners false a pixel is 2 / size wide in grid units.
        theta[TensorIndex.Colon, 0, 2] = shift[TensorIndex.Colon, 0].mul(2.0 / width);
        theta[TensorIndex.Colon, 1, 2] = shift[TensorIndex.Colon, 1].mul(2.0 / height);
        Tensor grid = nn.functional.affine_grid(theta, [batch, images.shape[1], height, width], align_corners: false);
        return nn.functional.grid_sample(images, grid, GridSampleMode.Nearest, GridSamplePaddingMode.Border, align_corners: false);
    }
}
