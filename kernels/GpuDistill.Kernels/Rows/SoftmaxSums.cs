using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// Online softmax statistics of one distribution over part of a row: the running max of the raw logits z and the sum
/// of exp((z - Max) / T), rescaled whenever the max grows, so one read of the row gives the log-sum-exp (loss-spec
/// 1.1, fusion note).
/// </summary>
/// <remarks>
/// Maxima are kept on the raw logits and every exponent is (z - max) / T: the difference is exact or nearly so,
/// while z / T - max / T would round twice at the magnitude of the logits (logits of 1e4 would lose 1e-3).
/// </remarks>
public struct SoftmaxSums
{
    /// <summary>Running max of the raw logits (-inf for an empty slice).</summary>
    public float Max;

    /// <summary>sum exp((z - Max) / T).</summary>
    public float Sum;

    /// <summary>Statistics of an empty slice.</summary>
    public static SoftmaxSums Empty => new() { Max = float.NegativeInfinity };

    /// <summary>log(Sum); the log-sum-exp of z / T is Max / T plus this.</summary>
    public readonly float LogSum => XMath.Log(Sum);

    /// <summary>Adds one logit.</summary>
    /// <param name="z">Raw logit.</param>
    /// <param name="inverseTemperature">1/T.</param>
    public void Add(float z, float inverseTemperature)
    {
        if (z > Max)
        {
            Sum = Sum * XMath.Exp((Max - z) * inverseTemperature) + 1f;
            Max = z;
        }
        else
        {
            Sum += XMath.Exp((z - Max) * inverseTemperature);
        }
    }

    /// <summary>Adds the statistics of a disjoint slice of the same row.</summary>
    /// <param name="part">The other slice's statistics.</param>
    /// <param name="inverseTemperature">1/T.</param>
    public void Merge(in SoftmaxSums part, float inverseTemperature)
    {
        float max = XMath.Max(Max, part.Max);
        Sum = Rescale(Sum, Max, max, inverseTemperature) + Rescale(part.Sum, part.Max, max, inverseTemperature);
        Max = max;
    }

    /// <summary>
    /// Combines the slices of the threads that share the row. Every thread of the row must call it.
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="inverseTemperature">1/T.</param>
    public void Combine<TCombine>(float inverseTemperature) where TCombine : struct, IRowCombine
    {
        float max = default(TCombine).Max(Max);
        Sum = default(TCombine).Sum(Rescale(Sum, Max, max, inverseTemperature));
        Max = max;
    }

    /// <summary>log softmax(z / T) of one logit, once the statistics are complete.</summary>
    /// <param name="z">Raw logit.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="logSum"><see cref="LogSum"/>, computed once per row.</param>
    /// <returns>(z - Max) / T - log Sum.</returns>
    public readonly float LogProbability(float z, float inverseTemperature, float logSum) =>
        (z - Max) * inverseTemperature - logSum;

    /// <summary>Rescales a sum taken relative to one max so it is relative to a larger one.</summary>
    /// <param name="sum">Sum relative to <paramref name="localMax"/>.</param>
    /// <param name="localMax">The slice's max (-inf for an empty slice).</param>
    /// <param name="sharedMax">The larger max.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <returns>The same sum relative to <paramref name="sharedMax"/>.</returns>
    public static float Rescale(float sum, float localMax, float sharedMax, float inverseTemperature) =>
        localMax == float.NegativeInfinity ? 0f : sum * XMath.Exp((localMax - sharedMax) * inverseTemperature);
}
