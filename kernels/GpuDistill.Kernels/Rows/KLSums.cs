namespace GpuDistill.Kernels.Rows;

/// <summary>
/// One-pass softmax statistics of two distributions over a set of columns, softmax(a / T) and softmax(b / T), for
/// KL(A || B) (A is the distribution the divergence is weighted by: the teacher for Hinton KD and DKD's non-target
/// term). The divergence itself is summed in the next read of the row, column by column with
/// <see cref="LogSpace.DivergenceTerm(float, float, float, float)"/>, once both log-normalisers are known.
/// </summary>
public struct KLSums
{
    /// <summary>Statistics of a.</summary>
    public SoftmaxSums Reference;

    /// <summary>Statistics of b.</summary>
    public SoftmaxSums Other;

    /// <summary>Statistics of no columns.</summary>
    public static KLSums Empty => new() { Reference = SoftmaxSums.Empty, Other = SoftmaxSums.Empty };

    /// <summary>Adds one column.</summary>
    /// <param name="a">Logit of the reference distribution A.</param>
    /// <param name="b">Logit of B.</param>
    /// <param name="inverseTemperature">1/T.</param>
    public void Add(float a, float b, float inverseTemperature)
    {
        Reference.Add(a, inverseTemperature);
        Other.Add(b, inverseTemperature);
    }

    /// <summary>Adds the statistics of a disjoint set of columns.</summary>
    /// <param name="part">The other columns.</param>
    /// <param name="inverseTemperature">1/T.</param>
    public void Merge(in KLSums part, float inverseTemperature)
    {
        Reference.Merge(part.Reference, inverseTemperature);
        Other.Merge(part.Other, inverseTemperature);
    }

    /// <summary>Combines the slices of the threads that share the row (every thread must call).</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="inverseTemperature">1/T.</param>
    public void Combine<TCombine>(float inverseTemperature) where TCombine : struct, IRowCombine
    {
        Reference.Combine<TCombine>(inverseTemperature);
        Other.Combine<TCombine>(inverseTemperature);
    }
}
