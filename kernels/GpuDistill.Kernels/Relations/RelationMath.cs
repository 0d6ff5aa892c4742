using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations;

/// <summary>Device functions the relation kernels share: dot products of rows, smooth L1, the normalise clamp.</summary>
internal static class RelationMath
{
    /// <summary>The eps of F.normalize: x / max(||x||, eps) (loss-spec 0).</summary>
    public const float NormalizeEps = 1e-12f;

    /// <summary>RKD clamps squared distances at this value before the square root (loss-spec 3.1).</summary>
    public const float SquaredDistanceFloor = 1e-12f;

    /// <summary>Terms summed on their own before joining the total, as in the row kernels' two-level sums.</summary>
    private const int BlockLength = 512;

    /// <summary>dot(a[offsetA ..], b[offsetB ..]) over <paramref name="length"/> elements, summed in blocks.</summary>
    /// <param name="a">First array.</param>
    /// <param name="offsetA">Start of the first row.</param>
    /// <param name="b">Second array.</param>
    /// <param name="offsetB">Start of the second row.</param>
    /// <param name="length">Row length.</param>
    /// <returns>The inner product.</returns>
    public static float Dot(ArrayView<float> a, long offsetA, ArrayView<float> b, long offsetB, int length)
    {
        float total = 0f;
        for (int start = 0; start < length; start += BlockLength)
        {
            int end = XMath.Min(length, start + BlockLength);
            float block = 0f;
            for (int d = start; d < end; d++) block += a[offsetA + d] * b[offsetB + d];
            total += block;
        }
        return total;
    }

    /// <summary>sum_d (a_d - b_d)^2 of two rows of one array, summed in blocks (no cancellation, unlike the Gram form).</summary>
    /// <param name="a">The array.</param>
    /// <param name="offsetA">Start of the first row.</param>
    /// <param name="offsetB">Start of the second row.</param>
    /// <param name="length">Row length.</param>
    /// <returns>The squared Euclidean distance.</returns>
    public static float SquaredDistance(ArrayView<float> a, long offsetA, long offsetB, int length)
    {
        float total = 0f;
        for (int start = 0; start < length; start += BlockLength)
        {
            int end = XMath.Min(length, start + BlockLength);
            float block = 0f;
            for (int d = start; d < end; d++)
            {
                float v = a[offsetA + d] - a[offsetB + d];
                block += v * v;
            }
            total += block;
        }
        return total;
    }

    /// <summary>Smooth L1 with beta = 1: 0.5 x^2 when |x| &lt; 1, otherwise |x| - 0.5.</summary>
    /// <param name="x">The difference.</param>
    /// <returns>h(x).</returns>
    public static float SmoothL1(float x)
    {
        float a = XMath.Abs(x);
        return a < 1f ? 0.5f * x * x : a - 0.5f;
    }

    /// <summary>The derivative of <see cref="SmoothL1"/>: clamp(x, -1, 1).</summary>
    /// <param name="x">The difference.</param>
    /// <returns>h'(x).</returns>
    public static float SmoothL1Slope(float x) => XMath.Clamp(x, -1f, 1f);

    /// <summary>sign(x): 1, -1, or 0 at 0 (the subgradient PyTorch's abs uses).</summary>
    /// <param name="x">The value.</param>
    /// <returns>The sign.</returns>
    public static float Sign(float x) => x > 0f ? 1f : x < 0f ? -1f : 0f;

    /// <summary>
    /// Row k, column d of (W + W^T) F for a B x B matrix W and features F [B, D]: the chain rule from a pairwise
    /// matrix built as F F^T back to the features.
    /// </summary>
    /// <param name="weights">W, [B*B].</param>
    /// <param name="features">F, [B*D].</param>
    /// <param name="k">Row.</param>
    /// <param name="d">Column.</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    /// <returns>The gradient entry.</returns>
    public static float SymmetricProduct(ArrayView<float> weights, ArrayView<float> features, int k, int d, int rows,
        int width)
    {
        float sum = 0f;
        long rowK = (long)k * rows;
        for (int l = 0; l < rows; l++)
            sum += (weights[rowK + l] + weights[(long)l * rows + k]) * features[(long)l * width + d];
        return sum;
    }
}
