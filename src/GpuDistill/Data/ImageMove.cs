namespace GpuDistill.Data;

/// <summary>
/// One draw of <see cref="ImageAugmentation"/> for one image: a shift of up to <see cref="BatchOptions.CropPadding"/>
/// pixels in each direction (a random crop of the black-padded image) and an optional left-right mirror. The batcher's
/// live augmentation and <see cref="ImageDataset.WithAugmentedCopies"/> both move images with it.
/// </summary>
/// <param name="Down">Rows the crop window moves down, -pad..pad (the image content moves up).</param>
/// <param name="Right">Columns the crop window moves right, -pad..pad.</param>
/// <param name="Mirror">Whether the cropped image is mirrored left-right.</param>
internal readonly record struct ImageMove(int Down, int Right, bool Mirror)
{
    /// <summary>
    /// Draws a move: the crop's row then column offset (if <paramref name="kind"/> crops), then the mirror (if it
    /// flips), in that order, so a seeded stream gives the same moves everywhere.
    /// </summary>
    public static ImageMove Draw(ImageAugmentation kind, SeededRandom random)
    {
        ArgumentNullException.ThrowIfNull(random);
        const int pad = BatchOptions.CropPadding;
        int down = 0, right = 0;
        if ((kind & ImageAugmentation.RandomCrop) != 0)
        {
            down = random.NextInt(2 * pad + 1) - pad;
            right = random.NextInt(2 * pad + 1) - pad;
        }
        bool mirror = (kind & ImageAugmentation.HorizontalFlip) != 0 && random.NextBool();
        return new ImageMove(down, right, mirror);
    }

    /// <summary>
    /// Writes the moved image of <paramref name="source"/> (h x w bytes) to <paramref name="target"/>, each pixel mapped
    /// through <paramref name="table"/> (the batcher's normalisation, or the identity for bytes); pixels moved in from
    /// outside the image are <c>table[0]</c>, black.
    /// </summary>
    public void Apply<T>(ReadOnlySpan<byte> source, Span<T> target, int h, int w, ReadOnlySpan<T> table)
    {
        target.Fill(table[0]);
        // Output columns whose source column lies inside the image; the rest stay black padding.
        int first = Mirror ? Math.Max(0, Right) : Math.Max(0, -Right);
        int end = Mirror ? Math.Min(w, w + Right) : Math.Min(w, w - Right);
        for (int y = 0; y < h; y++)
        {
            int sy = y + Down;
            if (sy < 0 || sy >= h) continue;
            ReadOnlySpan<byte> sourceRow = source.Slice(sy * w, w);
            Span<T> row = target.Slice(y * w, w);
            // Crop first, then mirror the cropped row.
            if (Mirror)
            {
                for (int x = first; x < end; x++) row[x] = table[sourceRow[w - 1 - x + Right]];
            }
            else
            {
                for (int x = first; x < end; x++) row[x] = table[sourceRow[x + Right]];
            }
        }
    }
}
