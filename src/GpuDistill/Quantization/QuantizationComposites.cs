using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Quantization;

/// <summary>
/// The fake-quantization passes written as libtorch ops: what a host device (<c>simd</c>) runs, and the baseline the
/// perf suite times the kernels against. Same math as <see cref="Kernels.Quantization.QuantizationKernels"/> (division
/// by the scale, half-to-even rounding, the mask of the rounded value), computed without autograd: the autograd
/// functions save the mask and apply it in backward.
/// </summary>
/// <remarks>
/// On ILGPU's CPU accelerator the elementwise kernels run one simulated thread per element, which libtorch's
/// vectorised loops beat (perf/GpuDistill.Perf, <c>--only fake-quant</c>); GPUs run the kernels.
/// </remarks>
internal static class QuantizationComposites
{
    /// <summary>Per-row statistics of a [rows, rowLength] view: min, max, mean |x|, and whether every value is finite.</summary>
    public static (ValueRange[] Ranges, bool AllFinite) Ranges(Tensor input, int rows)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor view = input.detach().reshape(rows, -1);
        (Tensor minimum, Tensor maximum) = view.aminmax(1);
        Tensor absoluteMean = view.abs().mean([1], type: ScalarType.Float64);
        float[] lo = minimum.data<float>().ToArray();
        float[] hi = maximum.data<float>().ToArray();
        double[] mean = absoluteMean.data<double>().ToArray();
        // min and max propagate NaN, and an infinity is its own min or max: both finite means every value is.
        bool allFinite = lo.All(float.IsFinite) && hi.All(float.IsFinite);
        var ranges = new ValueRange[rows];
        for (int r = 0; r < rows; r++) ranges[r] = new ValueRange(lo[r], hi[r], mean[r]);
        return (ranges, allFinite);
    }

    /// <summary>x^ = (clamp(round(x / s) + zp) - zp) s per row, and the mask of the rounded value; null when x is not finite.</summary>
    public static (Tensor Output, Tensor Passes)? FakeQuantize(Tensor input, float[] scales, float[] zeroPoints, IntegerGrid grid)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor x = input.detach();
        if (!x.isfinite().all().item<bool>()) return null;
        int rows = scales.Length;
        Tensor view = x.reshape(rows, -1);
        Tensor s = tensor(scales).reshape(rows, 1);
        Tensor zp = tensor(zeroPoints).reshape(rows, 1);
        using Scalar minimum = ((double)grid.Minimum).ToScalar();
        using Scalar maximum = ((double)grid.Maximum).ToScalar();
        Tensor q = view.div(s).round_().add_(zp);
        Tensor passes = q.ge(minimum).logical_and_(q.le(maximum));
        Tensor output = q.clamp_(minimum, maximum).sub_(zp).mul_(s);
        return (output.reshape(input.shape).MoveToOuterDisposeScope(), passes.reshape(input.shape).MoveToOuterDisposeScope());
    }

    /// <summary>LSQ: x^ = s round(clamp(x / s, Qn, Qp)), its mask and d x^ / d s per element; null when x is not finite.</summary>
    public static (Tensor Output, Tensor Passes, Tensor StepGradient)? FakeQuantizeLearned(Tensor input, float scale, IntegerGrid grid)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor x = input.detach();
        if (!x.isfinite().all().item<bool>()) return null;
        using Scalar s = ((double)scale).ToScalar();
        using Scalar minimum = ((double)grid.Minimum).ToScalar();
        using Scalar maximum = ((double)grid.Maximum).ToScalar();
        Tensor v = x.div(s);
        Tensor passes = v.gt(minimum).logical_and_(v.lt(maximum));
        Tensor rounded = v.clamp(minimum, maximum).round_();
        Tensor output = rounded.mul(s);
        Tensor outside = where(v.le(minimum), full_like(v, minimum), full_like(v, maximum));
        Tensor stepGradient = where(passes, rounded.add(v, Scalars.MinusOne), outside);
        return (output.MoveToOuterDisposeScope(), passes.MoveToOuterDisposeScope(), stepGradient.MoveToOuterDisposeScope());
    }
}
