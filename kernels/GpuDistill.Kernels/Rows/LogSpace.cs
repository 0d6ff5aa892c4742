using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>Scalar log-space functions for kernels (XMath has no log1p), accurate over the whole float range.</summary>
public static class LogSpace
{
    /// <summary>log(1 + y) for y &gt;= 0, accurate also when y is far below float epsilon.</summary>
    /// <param name="y">A non-negative value.</param>
    /// <returns>log(1 + y).</returns>
    public static float Log1P(float y)
    {
        // Goldberg's correction: u = fl(1 + y) is exact up to rounding, and log(u) * y / (u - 1) cancels it.
        float u = 1f + y;
        if (u == 1f) return y;
        return XMath.Log(u) * (y / (u - 1f));
    }

    /// <summary>
    /// One column's share of KL(P || Q) in a form whose row sum does not cancel: p (log p - log q) + (q - p), which is
    /// p (r - 1 + exp(-r)) &gt;= 0 for r = log(p / q). The q - p terms sum to 0 in exact arithmetic, and in float32
    /// they cancel, to first order, whatever error the row's log-normalisers carry (rounding of a log-sum-exp near
    /// log C, the float32 sums behind it), which the plain sum of p log(p / q) or the closed form lse - lse + E[...]
    /// keep: where teacher and student barely differ, KL is ~1e-3 of those log-sum-exps and lost 1e-3 of its value.
    /// </summary>
    /// <param name="p">The column's probability under P, exp(<paramref name="logP"/>).</param>
    /// <param name="logP">log p.</param>
    /// <param name="q">The column's probability under Q, exp(<paramref name="logQ"/>).</param>
    /// <param name="logQ">log q.</param>
    /// <returns>p (log p - log q) + (q - p).</returns>
    public static float DivergenceTerm(float p, float logP, float q, float logQ) => p * (logP - logQ) + (q - p);

    /// <summary>
    /// The same share as <see cref="DivergenceTerm(float, float, float, float)"/>, p (e^x - 1 - x) = q - p - p x, from
    /// p, q and x = log(q / p) known to full relative accuracy, itself accurate to a few roundings: where |x| is small
    /// (q - p and p x cancel to p x^2 / 2), by the series of e^x - 1 - x. For a sum of two such shares (a KL between
    /// two-point distributions), where the column errors of a long row do not average out.
    /// </summary>
    /// <param name="p">The probability under P.</param>
    /// <param name="q">The probability under Q.</param>
    /// <param name="logRatio">x = log(q / p).</param>
    /// <returns>p (e^x - 1 - x) &gt;= 0.</returns>
    public static float DivergenceTermFromLogRatio(float p, float q, float logRatio)
    {
        float x = logRatio;
        if (XMath.Abs(x) >= 0.5f) return q - p - p * x;
        // e^x - 1 - x = x^2 (1/2! + x/3! + ... + x^8/10!); the next term is below 1e-9 of the sum for |x| < 0.5.
        float series = 1f / 3628800f;
        series = series * x + 1f / 362880f;
        series = series * x + 1f / 40320f;
        series = series * x + 1f / 5040f;
        series = series * x + 1f / 720f;
        series = series * x + 1f / 120f;
        series = series * x + 1f / 24f;
        series = series * x + 1f / 6f;
        series = series * x + 0.5f;
        return p * (x * x * series);
    }

    /// <summary>exp(x) - 1, accurate also where |x| is far below 1 (where exp(x) - 1 cancels).</summary>
    /// <param name="x">Any value.</param>
    /// <returns>e^x - 1.</returns>
    public static float Expm1(float x)
    {
        // Kahan's correction: u = fl(e^x), and (u - 1) * x / log(u) cancels its rounding.
        float u = XMath.Exp(x);
        if (u == 1f) return x;
        float um1 = u - 1f;
        if (um1 == -1f) return -1f;
        return um1 * (x / XMath.Log(u));
    }

    /// <summary>log(1 + exp(-|x|)), the part softplus(x) and softplus(-x) share, in (0, log 2].</summary>
    /// <param name="x">Any value.</param>
    /// <returns>softplus(x) - max(x, 0).</returns>
    public static float SoftplusTail(float x) => Log1P(XMath.Exp(-XMath.Abs(x)));

    /// <summary>softplus(x) = log(1 + exp(x)) and softplus(-x) together (they share one exp and one log).</summary>
    /// <param name="x">Any value.</param>
    /// <param name="ofX">softplus(x).</param>
    /// <param name="ofMinusX">softplus(-x) = softplus(x) - x, computed without that cancellation.</param>
    public static void Softplus(float x, out float ofX, out float ofMinusX)
    {
        float tail = SoftplusTail(x);
        ofX = (x > 0f ? x : 0f) + tail;
        ofMinusX = (x < 0f ? -x : 0f) + tail;
    }
}
