using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Fake quantization with the straight-through estimator written as libtorch ops, as a user would write it in
/// TorchSharp: the baseline the fused kernels are timed against (same math: division by the scale, half-to-even
/// rounding, the mask of the rounded value; the STE through x m + (x^ - x m).detach(), whose gradient is the mask).
/// </summary>
internal static class FakeQuantizeComposite
{
    /// <summary>Per-row affine fake quantization of x viewed as [rows, -1], with per-row scales and zero points.</summary>
    public static Tensor FakeQuantize(Tensor x, float[] scales, float[] zeroPoints, int minimum, int maximum)
    {
        using var scope = NewDisposeScope();
        int rows = scales.Length;
        Tensor view = x.reshape(rows, -1);
        Tensor s = tensor(scales).reshape(rows, 1);
        Tensor zp = tensor(zeroPoints).reshape(rows, 1);
        using Scalar low = ((double)minimum).ToScalar();
        using Scalar high = ((double)maximum).ToScalar();
        Tensor q;
        using (no_grad()) q = view.div(s).round_().add_(zp);
        Tensor passes = q.ge(low).logical_and_(q.le(high));
        Tensor dequantized = q.clamp(low, high).sub_(zp).mul_(s);
        Tensor passed = view.mul(passes);
        Tensor output = passed.add(dequantized.sub(passed).detach());
        return output.reshape(x.shape).MoveToOuterDisposeScope();
    }

    /// <summary>Per-row (min, max) and max |x|, read back to the host as the kernels' range pass is.</summary>
    public static (float[] Minimum, float[] Maximum) Ranges(Tensor x, int rows)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        (Tensor minimum, Tensor maximum) = x.detach().reshape(rows, -1).aminmax(1);
        return (minimum.data<float>().ToArray(), maximum.data<float>().ToArray());
    }
}
