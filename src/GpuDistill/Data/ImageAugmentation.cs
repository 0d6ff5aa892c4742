namespace GpuDistill.Data;

/// <summary>Random training-time changes to each image; combine with |.</summary>
[Flags]
public enum ImageAugmentation
{
    /// <summary>Images as they are.</summary>
    None = 0,

    /// <summary>Mirror left-right with probability 1/2.</summary>
    HorizontalFlip = 1,

    /// <summary>
    /// Pad with <see cref="BatchOptions.CropPadding"/> black pixels on every side, then cut out an image of the original
    /// size at a uniformly random offset (a shift of up to the padding in each direction).
    /// </summary>
    RandomCrop = 2,
}
