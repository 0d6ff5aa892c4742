namespace GpuDistill.Kernels.Diagnostics;

/// <summary>
/// The HSIC terms of two feature matrices X [n, p1] and Y [n, p2] over one batch (loss-spec-2 12.1), summed in
/// float64: the biased terms of linear CKA, and the unbiased HSIC_1 (Song et al. 2012) that minibatch CKA sums over
/// batches.
/// </summary>
/// <remarks>
/// The biased terms are HSIC(K, L) = tr(K H L H) times (n-1)^2, a factor that cancels in CKA: with centred features,
/// <see cref="Cross"/> = ||Y_c^T X_c||_F^2, <see cref="SelfX"/> = ||X_c^T X_c||_F^2, <see cref="SelfY"/> =
/// ||Y_c^T Y_c||_F^2. The unbiased ones are HSIC_1 itself; they need n &gt; 3 and are NaN below.
/// </remarks>
/// <param name="Rows">n.</param>
/// <param name="Cross">tr(K_c L_c).</param>
/// <param name="SelfX">tr(K_c K_c).</param>
/// <param name="SelfY">tr(L_c L_c).</param>
/// <param name="UnbiasedCross">HSIC_1(K, L).</param>
/// <param name="UnbiasedSelfX">HSIC_1(K, K).</param>
/// <param name="UnbiasedSelfY">HSIC_1(L, L).</param>
public readonly record struct HsicTerms(int Rows, double Cross, double SelfX, double SelfY, double UnbiasedCross,
    double UnbiasedSelfX, double UnbiasedSelfY)
{
    /// <summary>
    /// Linear CKA of the batch: Cross / sqrt(SelfX SelfY), in [0, 1]. NaN when X or Y is the same for every example
    /// (a zero denominator: CKA is undefined there).
    /// </summary>
    public double Cka => SelfX > 0 && SelfY > 0 ? Cross / Math.Sqrt(SelfX * SelfY) : double.NaN;

    /// <summary>
    /// Adds up the per-thread sums of <see cref="LinearCkaKernels.GramStatistics"/> (or of a whole row, with
    /// <paramref name="runs"/> = 1) in float64 and forms the terms.
    /// </summary>
    /// <param name="statistics">[n * runs * 7], row i's runs together, in the kernel's order.</param>
    /// <param name="rows">n.</param>
    /// <param name="runs">Partial sums per row.</param>
    /// <returns>The terms.</returns>
    public static HsicTerms FromStatistics(ReadOnlySpan<double> statistics, int rows, int runs)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(runs);
        const int count = LinearCkaKernels.StatisticCount;
        if (statistics.Length != (long)rows * runs * count)
            throw new ArgumentException($"statistics has {statistics.Length} values; expected {rows} x {runs} x {count}.", nameof(statistics));

        double cross = 0, selfX = 0, selfY = 0;
        // The unbiased terms drop the diagonals: tr(K~ L~) = tr(K L) - sum_i K_ii L_ii; 1^T K~ 1 = sum_i (K~ 1)_i.
        double diagonalCross = 0, diagonalX = 0, diagonalY = 0;
        double sumX = 0, sumY = 0, rowCross = 0, rowX = 0, rowY = 0;
        for (int i = 0; i < rows; i++)
        {
            double rowSumX = 0, rowSumY = 0, kii = 0, lii = 0;
            for (int b = 0; b < runs; b++)
            {
                ReadOnlySpan<double> s = statistics.Slice(((i * runs) + b) * count, count);
                cross += s[0];
                selfX += s[1];
                selfY += s[2];
                rowSumX += s[3];
                rowSumY += s[4];
                kii += s[5];
                lii += s[6];
            }
            diagonalCross += kii * lii;
            diagonalX += kii * kii;
            diagonalY += lii * lii;
            sumX += rowSumX;
            sumY += rowSumY;
            rowCross += rowSumX * rowSumY;
            rowX += rowSumX * rowSumX;
            rowY += rowSumY * rowSumY;
        }
        return new HsicTerms(rows, cross, selfX, selfY,
            Unbiased(rows, cross - diagonalCross, sumX, sumY, rowCross),
            Unbiased(rows, selfX - diagonalX, sumX, sumX, rowX),
            Unbiased(rows, selfY - diagonalY, sumY, sumY, rowY));
    }

    /// <summary>
    /// HSIC_1 = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) (K~ 1)^T (L~ 1)] / (n (n-3)); NaN for n &lt;= 3.
    /// </summary>
    private static double Unbiased(int rows, double trace, double sumK, double sumL, double rowProduct)
    {
        if (rows <= 3) return double.NaN;
        double n = rows;
        return (trace + sumK * sumL / ((n - 1) * (n - 2)) - 2 / (n - 2) * rowProduct) / (n * (n - 3));
    }
}
