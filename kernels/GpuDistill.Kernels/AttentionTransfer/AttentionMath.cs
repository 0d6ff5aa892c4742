using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.AttentionTransfer;

/// <summary>The scale of one example's map: its norm and the factor that normalises it.</summary>
internal readonly struct MapScale
{
    /// <summary>Creates the scale of a map whose channel sums have norm <paramref name="norm"/>.</summary>
    /// <param name="norm">||v||_2 (NaN when v holds NaN or infinity).</param>
    public MapScale(float norm)
    {
        Norm = norm;
        // NaN stays NaN (a comparison-based max would replace it by the floor and hide it).
        Denominator = norm > AttentionMapParameters.Epsilon ? norm : norm >= 0f ? AttentionMapParameters.Epsilon : norm;
    }

    /// <summary>||v||_2.</summary>
    public float Norm { get; }

    /// <summary>
    /// max(||v||_2, eps): a = v / Denominator. Kernels divide rather than multiply by a reciprocal, so a map of one
    /// position is exactly 1 and equal maps give exactly d = 0.
    /// </summary>
    public float Denominator { get; }

    /// <summary>
    /// True when the norm is above the floor, so the normalisation's Jacobian projects; below it the map is v / eps
    /// and its Jacobian is 1/eps (the gradient of F.normalize's clamp).
    /// </summary>
    public bool Projects => Norm > AttentionMapParameters.Epsilon;
}

/// <summary>
/// Device functions shared by the attention-map and attention-transfer kernels. Every loop is a plain loop owned by
/// one thread (no group barriers, which ILGPU's CPU accelerator makes slow); sums are float32 in two levels.
/// </summary>
internal static class AttentionMath
{
    /// <summary>Terms summed on their own before they join the running total.</summary>
    /// <remarks>
    /// Two-level summation keeps the relative error of a sum of n terms near (n / 32 + 32) ulp in the worst case
    /// instead of n ulp: 512 channels or 3136 positions stay well inside the 2e-5 the kernels are held to.
    /// </remarks>
    public const int BlockLength = 32;

    /// <summary>|x|^p.</summary>
    /// <param name="x">A feature value.</param>
    /// <param name="m">The map's scalars (p and its kind).</param>
    /// <returns>|x|^p.</returns>
    public static float Power(float x, in AttentionMapParameters m)
    {
        float a = XMath.Abs(x);
        if (m.ExponentKind == 2) return a * a;
        if (m.ExponentKind == 1) return a;
        return a == 0f ? 0f : XMath.Pow(a, m.Exponent);
    }

    /// <summary>
    /// d|x|^p / dx = p |x|^(p-1) sign(x), taken as 0 at x = 0 (its value for p &gt; 1; for p &lt;= 1 the derivative
    /// does not exist there and 0 is the subgradient that keeps the gradient finite).
    /// </summary>
    /// <param name="x">A feature value.</param>
    /// <param name="m">The map's scalars.</param>
    /// <returns>The derivative.</returns>
    public static float PowerDerivative(float x, in AttentionMapParameters m)
    {
        if (m.ExponentKind == 2) return 2f * x;
        if (x == 0f) return 0f;
        float sign = x > 0f ? 1f : -1f;
        if (m.ExponentKind == 1) return sign;
        return sign * m.Exponent * XMath.Pow(XMath.Abs(x), m.Exponent - 1f);
    }

    /// <summary>
    /// The map entries a thread owns: positions [First, End) of example <paramref name="b"/>. Positions are split
    /// into runs of <paramref name="positionsPerThread"/>, one run per thread, never across examples.
    /// </summary>
    /// <param name="thread">The thread's index.</param>
    /// <param name="positions">H*W.</param>
    /// <param name="positionsPerThread">Run length (1 on GPUs).</param>
    /// <param name="b">The example.</param>
    /// <param name="first">First position.</param>
    /// <param name="end">One past the last position.</param>
    public static void Run(int thread, int positions, int positionsPerThread, out int b, out int first, out int end)
    {
        int runs = (positions + positionsPerThread - 1) / positionsPerThread;
        b = thread / runs;
        first = (thread - b * runs) * positionsPerThread;
        end = XMath.Min(positions, first + positionsPerThread);
    }

    /// <summary>
    /// v[b, k] = s sum_c |f[b, c, k]|^p for the positions [first, end) of example b: each position's channels are
    /// summed in registers, in two levels.
    /// </summary>
    /// <param name="feature">The feature, [B*C*H*W].</param>
    /// <param name="sums">Output v, [B*H*W].</param>
    /// <param name="b">The example.</param>
    /// <param name="first">First position.</param>
    /// <param name="end">One past the last position.</param>
    /// <param name="m">The map's scalars.</param>
    public static void ChannelSums(ArrayView<float> feature, ArrayView<float> sums, int b, int first, int end,
        in AttentionMapParameters m)
    {
        int positions = m.Positions;
        long example = (long)b * m.ExampleElements;
        for (int k = first; k < end; k++)
        {
            // On a GPU (one position per thread) consecutive threads read consecutive addresses of each channel; on
            // the CPU a thread's positions share cache lines from one channel to the next.
            long index = example + k;
            float total = 0f;
            for (int c0 = 0; c0 < m.Channels; c0 += BlockLength)
            {
                int blockEnd = XMath.Min(m.Channels, c0 + BlockLength);
                float block = 0f;
                for (int c = c0; c < blockEnd; c++)
                    block += Power(feature[index + (long)c * positions], m);
                total += block;
            }
            sums[(long)b * positions + k] = total * m.ChannelScale;
        }
    }

    /// <summary>
    /// The norm of one example's channel sums, overflow- and underflow-safe: ||v|| = max(v) sqrt(sum (v / max(v))^2)
    /// (v &gt;= 0), so |f|^p of any size that fits float32 gives a finite norm.
    /// </summary>
    /// <param name="sums">Channel sums, [B*H*W].</param>
    /// <param name="offset">b*H*W.</param>
    /// <param name="positions">H*W.</param>
    /// <returns>The example's scale.</returns>
    public static MapScale Scale(ArrayView<float> sums, long offset, int positions)
    {
        float max = 0f;
        bool finite = true;
        for (int k = 0; k < positions; k++)
        {
            float v = sums[offset + k];
            finite &= v <= float.MaxValue; // false for NaN and infinity, which max would hide
            max = XMath.Max(max, v);
        }
        if (!finite) return new MapScale(float.NaN);
        if (max == 0f) return new MapScale(0f);

        float total = 0f;
        for (int k0 = 0; k0 < positions; k0 += BlockLength)
        {
            int end = XMath.Min(positions, k0 + BlockLength);
            float block = 0f;
            for (int k = k0; k < end; k++)
            {
                float u = sums[offset + k] / max;
                block += u * u;
            }
            total += block;
        }
        return new MapScale(max * XMath.Sqrt(total));
    }
}
