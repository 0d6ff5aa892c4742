using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Diagnostics;

/// <summary>
/// Linear CKA over a batch (loss-spec-2 12.1), fused: the centred Gram matrices K = X_c X_c^T and L = Y_c Y_c^T of two
/// feature matrices X [n, p1] and Y [n, p2] are never stored. Each thread computes a run of entries K_ij and L_ij of
/// one row i and sums the products HSIC needs; the host adds the partial sums in float64
/// (<see cref="HsicTerms.FromStatistics"/>). Diagnostic only: no gradient.
/// </summary>
public static class LinearCkaKernels
{
    /// <summary>Values one thread writes, in this order (see <see cref="GramStatistics"/>).</summary>
    public const int StatisticCount = 7;

    /// <summary>Terms summed on their own before joining the total, as in the relation kernels.</summary>
    private const int BlockLength = 512;

    /// <summary>
    /// One thread per column d: the column mean over the n rows, with one correction pass (mean + sum(x - mean) / n)
    /// so a large common offset does not leave a float32 rounding of itself in the centred features.
    /// </summary>
    /// <param name="column">d.</param>
    /// <param name="features">F, [n*p] row-major.</param>
    /// <param name="means">Output, [p].</param>
    /// <param name="rows">n.</param>
    /// <param name="width">p.</param>
    public static void ColumnMeans(Index1D column, ArrayView<float> features, ArrayView<float> means, int rows, int width)
    {
        float sum = 0f;
        for (int start = 0; start < rows; start += BlockLength)
        {
            int end = XMath.Min(rows, start + BlockLength);
            float block = 0f;
            for (int i = start; i < end; i++) block += features[(long)i * width + column];
            sum += block;
        }
        float mean = sum / rows;
        float residual = 0f;
        for (int start = 0; start < rows; start += BlockLength)
        {
            int end = XMath.Min(rows, start + BlockLength);
            float block = 0f;
            for (int i = start; i < end; i++) block += features[(long)i * width + column] - mean;
            residual += block;
        }
        means[column] = mean + residual / rows;
    }

    /// <summary>
    /// One thread per (row i, run b of <paramref name="runLength"/> columns j): for each j of the run it forms
    /// k = K_ij and l = L_ij from the centred features and writes, at (i * runs + b) * 7:
    /// sum k l, sum k^2, sum l^2 over the run; sum k and sum l over the run's j != i; K_ii and L_ii when i is in the
    /// run (0 otherwise).
    /// </summary>
    /// <param name="index">i * runs + b.</param>
    /// <param name="x">X, [n*p1] row-major.</param>
    /// <param name="meanX">Column means of X, [p1].</param>
    /// <param name="y">Y, [n*p2] row-major.</param>
    /// <param name="meanY">Column means of Y, [p2].</param>
    /// <param name="statistics">Output, [n*runs*7].</param>
    /// <param name="rows">n.</param>
    /// <param name="widthX">p1.</param>
    /// <param name="widthY">p2.</param>
    /// <param name="runLength">Columns j per thread.</param>
    public static void GramStatistics(Index1D index, ArrayView<float> x, ArrayView<float> meanX, ArrayView<float> y,
        ArrayView<float> meanY, ArrayView<float> statistics, int rows, int widthX, int widthY, int runLength)
    {
        int runs = (rows + runLength - 1) / runLength;
        int i = index / runs;
        int first = (index - i * runs) * runLength;
        int last = XMath.Min(rows, first + runLength);

        float cross = 0f, selfX = 0f, selfY = 0f, rowX = 0f, rowY = 0f, diagonalX = 0f, diagonalY = 0f;
        for (int j = first; j < last; j++)
        {
            float k = CentredDot(x, meanX, i, j, widthX);
            float l = CentredDot(y, meanY, i, j, widthY);
            cross += k * l;
            selfX += k * k;
            selfY += l * l;
            if (j == i)
            {
                diagonalX = k;
                diagonalY = l;
            }
            else
            {
                rowX += k;
                rowY += l;
            }
        }
        long offset = (long)index.X * StatisticCount;
        statistics[offset] = cross;
        statistics[offset + 1] = selfX;
        statistics[offset + 2] = selfY;
        statistics[offset + 3] = rowX;
        statistics[offset + 4] = rowY;
        statistics[offset + 5] = diagonalX;
        statistics[offset + 6] = diagonalY;
    }

    /// <summary>sum_d (F[a, d] - m_d)(F[b, d] - m_d), summed in blocks.</summary>
    private static float CentredDot(ArrayView<float> features, ArrayView<float> means, int a, int b, int width)
    {
        long rowA = (long)a * width, rowB = (long)b * width;
        float total = 0f;
        for (int start = 0; start < width; start += BlockLength)
        {
            int end = XMath.Min(width, start + BlockLength);
            float block = 0f;
            for (int d = start; d < end; d++) block += (features[rowA + d] - means[d]) * (features[rowB + d] - means[d]);
            total += block;
        }
        return total;
    }
}
