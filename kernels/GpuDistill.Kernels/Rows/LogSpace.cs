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

    /// <summary>softplus(x) = log(1 + exp(x)) and softplus(-x) together (they share one exp and one log).</summary>
    /// <param name="x">Any value.</param>
    /// <param name="ofX">softplus(x).</param>
    /// <param name="ofMinusX">softplus(-x) = softplus(x) - x, computed without that cancellation.</param>
    public static void Softplus(float x, out float ofX, out float ofMinusX)
    {
        float tail = Log1P(XMath.Exp(-XMath.Abs(x)));
        ofX = (x > 0f ? x : 0f) + tail;
        ofMinusX = (x < 0f ? -x : 0f) + tail;
    }
}
