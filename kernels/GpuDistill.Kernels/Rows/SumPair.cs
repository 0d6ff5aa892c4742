namespace GpuDistill.Kernels.Rows;

/// <summary>Two plain sums over a row (for passes that run once the row's log-normalisers are known).</summary>
public struct SumPair
{
    /// <summary>The first sum.</summary>
    public float First;

    /// <summary>The second sum.</summary>
    public float Second;

    /// <summary>Adds another slice's sums.</summary>
    /// <param name="part">The other slice.</param>
    public void Merge(in SumPair part)
    {
        First += part.First;
        Second += part.Second;
    }

    /// <summary>Sums both over the threads that share the row.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    public void Combine<TCombine>() where TCombine : struct, IRowCombine
    {
        First = default(TCombine).Sum(First);
        Second = default(TCombine).Sum(Second);
    }
}
