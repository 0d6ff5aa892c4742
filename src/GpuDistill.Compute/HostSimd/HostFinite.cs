using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GpuDistill.Compute.HostSimd;

/// <summary>Where the first NaN or infinity of a float buffer is, in one vectorised read.</summary>
/// <remarks>
/// Every loss checks its inputs finite. libtorch's isfinite().all() writes a bool per element and reduces it, about
/// 2 ms for a teacher's two last feature maps (1.2M floats) on this project's 2-core machine under load, a tenth of a
/// small CNN's training step; this read, with no allocation, is limited by memory bandwidth.
/// </remarks>
public static class HostFinite
{
    /// <summary>Floats read as vectors before the block is tested (a test per vector would slow the loop).</summary>
    private const int BlockLength = 1024;

    /// <summary>The index of the first NaN or infinity, or -1 when every value is finite.</summary>
    /// <param name="values">The values.</param>
    /// <returns>An index into <paramref name="values"/>, or -1.</returns>
    public static long FirstNonFinite(ReadOnlySpan<float> values)
    {
        // A float is NaN or infinite exactly when its exponent bits are all ones.
        ReadOnlySpan<int> bits = MemoryMarshal.Cast<float, int>(values);
        Vector256<int> exponent = Vector256.Create(0x7F800000);
        int width = Vector256<int>.Count;
        for (int block = 0; block < bits.Length; block += BlockLength)
        {
            int end = Math.Min(bits.Length, block + BlockLength);
            Vector256<int> any = Vector256<int>.Zero;
            int c = block;
            for (; c + width <= end; c += width)
                any |= Vector256.Equals(Vector256.Create(bits.Slice(c, width)) & exponent, exponent);
            bool bad = any != Vector256<int>.Zero;
            for (; c < end && !bad; c++) bad = (bits[c] & 0x7F800000) == 0x7F800000;
            if (!bad) continue;
            for (int k = block; k < end; k++)
                if ((bits[k] & 0x7F800000) == 0x7F800000) return k;
        }
        return -1;
    }
}
