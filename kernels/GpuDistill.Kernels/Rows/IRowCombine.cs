using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// How the threads that share one row combine their partial results. The row functions are written once, generic
/// over this, and each kernel layout instantiates them with its own combine (a struct type parameter, so the
/// row-per-thread kernel contains no group code at all).
/// </summary>
public interface IRowCombine
{
    /// <summary>The row's sum of every thread's <paramref name="value"/>, returned to every thread.</summary>
    /// <param name="value">This thread's partial sum.</param>
    /// <returns>The row's sum.</returns>
    float Sum(float value);

    /// <summary>The row's max of every thread's <paramref name="value"/>, returned to every thread.</summary>
    /// <param name="value">This thread's partial max.</param>
    /// <returns>The row's max.</returns>
    float Max(float value);
}

/// <summary>One thread owns the row: its partial results are the row's.</summary>
public readonly struct ThreadOwnsRow : IRowCombine
{
    /// <inheritdoc/>
    public float Sum(float value) => value;

    /// <inheritdoc/>
    public float Max(float value) => value;
}

/// <summary>A group shares the row: partial results are all-reduced over the group (every thread must call).</summary>
public readonly struct GroupSharesRow : IRowCombine
{
    /// <inheritdoc/>
    public float Sum(float value) => GroupExtensions.AllReduce<float, AddFloat>(value);

    /// <inheritdoc/>
    public float Max(float value) => GroupExtensions.AllReduce<float, MaxFloat>(value);
}
