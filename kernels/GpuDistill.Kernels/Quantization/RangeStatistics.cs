namespace GpuDistill.Kernels.Quantization;

/// <summary>
/// What the range pass of fake quantization learns about a set of values: their finite minimum and maximum, the sum
/// of their absolute values (for LSQ's initial step size) and how many were NaN or infinite.
/// </summary>
/// <remarks>
/// A set with no finite value has minimum +infinity and maximum -infinity. The absolute sum is float32, summed per
/// chunk and then per row: it only seeds a learned step size, where a relative error of 1e-4 does not matter.
/// </remarks>
public struct RangeStatistics
{
    /// <summary>The smallest finite value.</summary>
    public float Minimum;

    /// <summary>The largest finite value.</summary>
    public float Maximum;

    /// <summary>The sum of |x| over the finite values.</summary>
    public float AbsoluteSum;

    /// <summary>How many values were NaN or infinite.</summary>
    public int NonFinite;

    /// <summary>The statistics of no values.</summary>
    public static RangeStatistics Empty => new()
    {
        Minimum = float.PositiveInfinity,
        Maximum = float.NegativeInfinity,
        AbsoluteSum = 0f,
        NonFinite = 0,
    };
}
