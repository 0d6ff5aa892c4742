namespace GpuDistill.Kernels.Rows;

/// <summary>
/// One-pass statistics of KL(A || B) between softmax(a / T) and softmax(b / T) over a set of columns:
/// KL = lse(b / T) - lse(a / T) + E_A[(a - b) / T] (loss-spec 1.1, stable closed form). A is the distribution the
/// expectation is taken under (the teacher for Hinton KD and DKD's non-target term).
/// </summary>
public struct KLSums
{
    /// <summary>Statistics of a, with Weighted = sum exp((a - max) / T) (a - b) / T.</summary>
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
        Reference.Add(a, (a - b) * inverseTemperature, inverseTemperature);
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
        Reference.CombineWeighted<TCombine>(inverseTemperature);
        Other.Combine<TCombine>(inverseTemperature);
    }

    /// <summary>KL(A || B) from complete statistics.</summary>
    /// <param name="inverseTemperature">1/T.</param>
    /// <returns>The divergence (not scaled).</returns>
    public readonly float Divergence(float inverseTemperature) =>
        (Other.Max - Reference.Max) * inverseTemperature + (Other.LogSum - Reference.LogSum)
        + Reference.Weighted / Reference.Sum;
}
