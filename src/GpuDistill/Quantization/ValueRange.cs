namespace GpuDistill.Quantization;

/// <summary>The range of a tensor, or of one row (channel) of it: what quantizers choose their scales from.</summary>
/// <param name="Minimum">The smallest value.</param>
/// <param name="Maximum">The largest value.</param>
/// <param name="MeanAbsolute">The mean of |x| (float32 partial sums; good to about 1e-4 relative).</param>
public readonly record struct ValueRange(float Minimum, float Maximum, double MeanAbsolute)
{
    /// <summary>max(|Minimum|, |Maximum|).</summary>
    public float AbsoluteMaximum => MathF.Max(MathF.Abs(Minimum), MathF.Abs(Maximum));
}
