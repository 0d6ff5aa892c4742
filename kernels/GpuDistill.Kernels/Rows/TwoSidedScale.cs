namespace GpuDistill.Kernels.Rows;

/// <summary>The per-row factor 1 / D of the two-sided divergences.</summary>
internal static class TwoSidedScale
{
    /// <summary>1 / N for batchmean, 1 / (N C) for the elementwise mean; 0 when no row counts.</summary>
    /// <param name="reduction">The reduction.</param>
    /// <param name="countedRows">N.</param>
    /// <param name="classes">C.</param>
    /// <returns>1 / D.</returns>
    public static float PerRow(RowReduction reduction, int countedRows, int classes)
    {
        if (countedRows <= 0) return 0f;
        double divisor = reduction == RowReduction.ElementwiseMean ? (double)countedRows * classes : countedRows;
        return (float)(1.0 / divisor);
    }
}
