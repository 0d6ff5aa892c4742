using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// What one pass over a row accumulates, per column, into statistics of type <typeparamref name="TSums"/> (a pass
/// that writes the gradient does it here too, so its sums get the same two-level summation).
/// </summary>
/// <typeparam name="TSums">The statistics (a plain struct).</typeparam>
public interface IRowTerms<TSums> where TSums : struct
{
    /// <summary>Statistics of no columns.</summary>
    TSums Empty { get; }

    /// <summary>Adds one column.</summary>
    /// <param name="sums">Running statistics.</param>
    /// <param name="index">Index of the element in the [B*C] arrays.</param>
    /// <param name="column">Its column (class).</param>
    void Add(ref TSums sums, long index, int column);

    /// <summary>Adds the statistics of a disjoint set of columns.</summary>
    /// <param name="total">Running statistics.</param>
    /// <param name="part">The other columns' statistics.</param>
    void Merge(ref TSums total, in TSums part);
}

/// <summary>The column loop every row pass shares: a strided slice of the row, summed in two levels.</summary>
public static class RowSweep
{
    /// <summary>Columns a thread sums on their own before merging them into its totals.</summary>
    public const int BlockLength = 512;

    /// <summary>Accumulates columns start, start + stride, ... of one row.</summary>
    /// <remarks>
    /// Two-level summation: blocks of <see cref="BlockLength"/> terms are summed on their own and then merged, so a
    /// row of 100k classes keeps float32 sums accurate to ~1e-6 instead of the ~1e-4 of one long running sum.
    /// </remarks>
    /// <typeparam name="TSums">The statistics.</typeparam>
    /// <typeparam name="TTerms">What each column adds.</typeparam>
    /// <param name="terms">The pass (it holds the views and row constants it needs).</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    /// <returns>The slice's statistics.</returns>
    public static TSums Accumulate<TSums, TTerms>(in TTerms terms, long offset, int start, int stride, int classes)
        where TSums : struct
        where TTerms : struct, IRowTerms<TSums>
    {
        TSums total = terms.Empty;
        int blockSpan = BlockLength * stride;
        for (int blockStart = start; blockStart < classes; blockStart += blockSpan)
        {
            int blockEnd = XMath.Min(classes, blockStart + blockSpan);
            TSums block = terms.Empty;
            for (int c = blockStart; c < blockEnd; c += stride)
                terms.Add(ref block, offset + c, c);
            terms.Merge(ref total, block);
        }
        return total;
    }
}
