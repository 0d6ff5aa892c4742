using GpuDistill.Data;

namespace GpuDistill.Tests.Data;

/// <summary>
/// An independent reference of the crop-then-mirror move (<see cref="ImageAugmentation"/>), by exhaustive search: the
/// live batcher's tests and the fixed augmented copies' tests both find the move that made an output with it.
/// </summary>
internal static class ImageMoveReference
{
    private const int Side = 28;

    /// <summary>
    /// The (row shift, column shift, mirrored) within <see cref="BatchOptions.CropPadding"/> for which
    /// moved(y, x) = pixel(source(y + sy, x' + sx)), x' = x or, mirrored, 27 - x, and pixel(0) outside the source;
    /// null if none does. Unmirrored moves are tried first.
    /// </summary>
    /// <param name="moved">The output image, 28 x 28.</param>
    /// <param name="source">The stored image, 28 x 28 bytes.</param>
    /// <param name="pixel">How a stored byte appears in the output (e.g. normalised).</param>
    /// <param name="mirrors">Whether mirrored moves are searched too.</param>
    public static (int Down, int Right, bool Mirrored)? Find(ReadOnlySpan<float> moved, ReadOnlySpan<byte> source, Func<byte, float> pixel, bool mirrors)
    {
        const int pad = BatchOptions.CropPadding;
        foreach (bool mirrored in mirrors ? new[] { false, true } : [false])
        {
            for (int sy = -pad; sy <= pad; sy++)
            {
                for (int sx = -pad; sx <= pad; sx++)
                {
                    if (IsMove(moved, source, pixel, sy, sx, mirrored)) return (sy, sx, mirrored);
                }
            }
        }
        return null;
    }

    private static bool IsMove(ReadOnlySpan<float> moved, ReadOnlySpan<byte> source, Func<byte, float> pixel, int sy, int sx, bool mirrored)
    {
        for (int y = 0; y < Side; y++)
        {
            for (int x = 0; x < Side; x++)
            {
                int yy = y + sy, xx = (mirrored ? Side - 1 - x : x) + sx;
                float expected = pixel(yy is < 0 or >= Side || xx is < 0 or >= Side ? (byte)0 : source[yy * Side + xx]);
                if (Math.Abs(moved[y * Side + x] - expected) > 1e-5) return false;
            }
        }
        return true;
    }
}
