namespace GpuDistill.Data;

/// <summary>How <see cref="ImageBatcher"/> orders, normalises and augments images.</summary>
public sealed record BatchOptions
{
    /// <summary>Black-pixel padding on each side for <see cref="ImageAugmentation.RandomCrop"/>.</summary>
    public const int CropPadding = 2;

    /// <summary>Whether each epoch visits the images in a seeded random order (default: file order).</summary>
    public bool Shuffle { get; init; }

    /// <summary>The seed for the order and the augmentation; with the epoch it fixes both completely.</summary>
    public int Seed { get; init; }

    /// <summary>Random changes to the images; default none.</summary>
    public ImageAugmentation Augmentation { get; init; } = ImageAugmentation.None;

    /// <summary>Subtracted from each pixel (on the 0..1 scale) before dividing by <see cref="Std"/>.</summary>
    public float Mean { get; init; } = FashionMnist.Mean;

    /// <summary>Divides each pixel after the mean is subtracted; must be positive.</summary>
    public float Std { get; init; } = FashionMnist.Std;
}
