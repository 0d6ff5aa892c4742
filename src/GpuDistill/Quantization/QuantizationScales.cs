namespace GpuDistill.Quantization;

/// <summary>
/// How scales and zero points follow from a range (loss-spec-2 8.1), in float32 arithmetic, written once for the
/// kernels' callers, the quantized model and the ONNX export, so all of them use the same numbers.
/// </summary>
public static class QuantizationScales
{
    /// <summary>
    /// The smallest scale, float32's machine epsilon (as PyTorch's observers): a constant tensor or an all-zero
    /// channel would otherwise get a zero scale.
    /// </summary>
    public const float MinimumScale = 1.1920929E-07f;

    /// <summary>Symmetric per-channel weights: s = max|W_k| / qmax (zero point 0), at least <see cref="MinimumScale"/>.</summary>
    /// <param name="absoluteMaximum">max |W_k| of the channel (finite, not negative).</param>
    /// <param name="grid">The weights' grid (normally <see cref="IntegerGrid.Symmetric"/>).</param>
    /// <returns>The channel's scale.</returns>
    public static float Symmetric(float absoluteMaximum, IntegerGrid grid)
    {
        grid.Require(nameof(grid));
        if (!(absoluteMaximum >= 0 && float.IsFinite(absoluteMaximum)))
            throw new ArgumentOutOfRangeException(nameof(absoluteMaximum), absoluteMaximum, "the absolute maximum must be finite and not negative.");
        return MathF.Max(absoluteMaximum / grid.Maximum, MinimumScale);
    }

    /// <summary>
    /// Asymmetric activations: the range is widened to hold 0 (lo = min(minimum, 0), hi = max(maximum, 0)),
    /// s = (hi - lo) / (qmax - qmin) (at least <see cref="MinimumScale"/>) and
    /// zp = clamp(qmin - round_half_even(lo / s), qmin, qmax).
    /// </summary>
    /// <param name="minimum">The smallest value seen (finite).</param>
    /// <param name="maximum">The largest value seen (finite, not below <paramref name="minimum"/>).</param>
    /// <param name="grid">The activations' grid (normally <see cref="IntegerGrid.NonNegative"/>).</param>
    /// <returns>The scale and zero point.</returns>
    public static (float Scale, int ZeroPoint) Affine(float minimum, float maximum, IntegerGrid grid)
    {
        grid.Require(nameof(grid));
        if (!float.IsFinite(minimum) || !float.IsFinite(maximum) || maximum < minimum)
            throw new ArgumentException($"The range [{minimum}, {maximum}] must be finite and ordered.", nameof(minimum));
        float lo = MathF.Min(minimum, 0f);
        float hi = MathF.Max(maximum, 0f);
        float scale = MathF.Max((hi - lo) / (grid.Maximum - grid.Minimum), MinimumScale);
        int zeroPoint = (int)Math.Clamp(grid.Minimum - MathF.Round(lo / scale, MidpointRounding.ToEven), grid.Minimum, grid.Maximum);
        return (scale, zeroPoint);
    }

    /// <summary>LSQ's initial step size, 2 mean|x| / sqrt(Qp) (Esser et al. 2020), at least <see cref="MinimumScale"/>.</summary>
    /// <param name="meanAbsolute">mean |x| of the first tensor seen.</param>
    /// <param name="grid">The grid the step quantizes onto.</param>
    /// <returns>The step size.</returns>
    public static float LearnedInitialStep(double meanAbsolute, IntegerGrid grid)
    {
        grid.Require(nameof(grid));
        return MathF.Max((float)(2 * meanAbsolute / Math.Sqrt(grid.Maximum)), MinimumScale);
    }

    /// <summary>The integer q = clamp(round_half_even(x / s) + zp, qmin, qmax), as the kernels and QuantizeLinear compute it.</summary>
    /// <param name="value">x.</param>
    /// <param name="scale">s.</param>
    /// <param name="zeroPoint">zp.</param>
    /// <param name="grid">The grid.</param>
    /// <returns>q.</returns>
    public static int ToInteger(float value, float scale, int zeroPoint, IntegerGrid grid) =>
        (int)Math.Clamp(MathF.Round(value / scale, MidpointRounding.ToEven) + zeroPoint, grid.Minimum, grid.Maximum);
}
