namespace GpuDistill.References;

/// <summary>
/// Float64 reference of fake quantization with the straight-through estimator (loss-spec-2 8.1), plain loops from the
/// definitions: grids, symmetric per-channel weight scales, affine activation scale and zero point, the fake-quant
/// forward with its mask of the rounded value, LSQ's forward and STE gradients, and the surrogate functions whose
/// derivatives the STE gradients are (for finite-difference checks).
/// </summary>
public static class FakeQuantizeReference
{
    /// <summary>The smallest scale (float32's machine epsilon, as PyTorch's observers).</summary>
    public const double MinimumScale = 1.1920928955078125e-07;

    /// <summary>[-(2^(b-1) - 1), 2^(b-1) - 1]: the weights' restricted signed grid; ternary at b = 2.</summary>
    public static (int Min, int Max) SymmetricGrid(int bits) => (-((1 << (bits - 1)) - 1), (1 << (bits - 1)) - 1);

    /// <summary>[-2^(b-1), 2^(b-1) - 1].</summary>
    public static (int Min, int Max) SignedGrid(int bits) => (-(1 << (bits - 1)), (1 << (bits - 1)) - 1);

    /// <summary>[0, 2^b - 1].</summary>
    public static (int Min, int Max) UnsignedGrid(int bits) => (0, (1 << bits) - 1);

    /// <summary>Half to even, the rounding of ONNX QuantizeLinear and PyTorch.</summary>
    public static double Round(double v) => Math.Round(v, MidpointRounding.ToEven);

    /// <summary>s_k = max(max_j |W_kj| / qmax, eps) for each of the channels (rows) of W.</summary>
    public static double[] SymmetricScales(double[] weight, int channels, int bits)
    {
        int rowLength = weight.Length / channels;
        (_, int qmax) = SymmetricGrid(bits);
        var scales = new double[channels];
        for (int k = 0; k < channels; k++)
        {
            double amax = 0;
            for (int j = 0; j < rowLength; j++) amax = Math.Max(amax, Math.Abs(weight[k * rowLength + j]));
            scales[k] = Math.Max(amax / qmax, MinimumScale);
        }
        return scales;
    }

    /// <summary>
    /// Least-error weight ranges: for each channel, over the clipping ratios r = 1, 0.95, ..., 0.2, the squared error
    /// sum_j (s round(clamp(W_kj / s)) - W_kj)^2 of s = max(r max_j |W_kj| / qmax, eps), in float64; returns every
    /// candidate's scale and error ([channel][ratio]) so a test can check that the chosen scale is a least one.
    /// </summary>
    public static (double[][] Scales, double[][] Errors) LeastErrorCandidates(double[] weight, int channels, int bits)
    {
        int rowLength = weight.Length / channels;
        (int qmin, int qmax) = SymmetricGrid(bits);
        var scales = new double[channels][];
        var errors = new double[channels][];
        for (int k = 0; k < channels; k++)
            (scales[k], errors[k]) = LeastErrorSteps(weight[(k * rowLength)..((k + 1) * rowLength)], qmin, qmax);
        return (scales, errors);
    }

    /// <summary>The squared error of one channel's fake quantization with scale s (symmetric grid, zero point 0).</summary>
    public static double ChannelError(ReadOnlySpan<double> channel, double scale, int bits)
    {
        (int qmin, int qmax) = SymmetricGrid(bits);
        return GridError(channel, scale, qmin, qmax);
    }

    /// <summary>
    /// A learned step's least-error start: over r = 1, 0.95, ..., 0.2, the step s = max(r max|x| / qmax, eps) whose
    /// fake quantization onto [qmin, qmax] (zero point 0) has the least squared error on x, in float64; every
    /// candidate's step and error, so a test can check that the chosen step is a least one.
    /// </summary>
    public static (double[] Steps, double[] Errors) LeastErrorSteps(double[] values, int qmin, int qmax)
    {
        double amax = values.Max(Math.Abs);
        var steps = new double[17];
        var errors = new double[17];
        for (int r = 0; r < 17; r++)
        {
            steps[r] = Math.Max(amax * (1 - 0.05 * r) / qmax, MinimumScale);
            errors[r] = GridError(values, steps[r], qmin, qmax);
        }
        return (steps, errors);
    }

    /// <summary>The squared error of fake-quantizing values with scale s onto [qmin, qmax] (zero point 0).</summary>
    public static double GridError(ReadOnlySpan<double> values, double scale, int qmin, int qmax)
    {
        double error = 0;
        foreach (double w in values)
        {
            double d = Math.Clamp(Round(w / scale), qmin, qmax) * scale - w;
            error += d * d;
        }
        return error;
    }

    /// <summary>lo = min(min, 0), hi = max(max, 0), s = max((hi - lo) / (qmax - qmin), eps), zp = clamp(qmin - round(lo / s)).</summary>
    public static (double Scale, int ZeroPoint) AffineParameters(double minimum, double maximum, int qmin, int qmax)
    {
        double lo = Math.Min(minimum, 0), hi = Math.Max(maximum, 0);
        double scale = Math.Max((hi - lo) / (qmax - qmin), MinimumScale);
        int zeroPoint = (int)Math.Clamp(qmin - Round(lo / scale), qmin, qmax);
        return (scale, zeroPoint);
    }

    /// <summary>
    /// Fake quantization of equal rows, row k with (s_k, zp_k): q = round(x / s) + zp, x^ = (clamp(q) - zp) s, and the
    /// mask qmin &lt;= q &lt;= qmax (d x^ / d x under the STE).
    /// </summary>
    public static (double[] Output, bool[] Passes) FakeQuantize(double[] x, double[] scales, double[] zeroPoints, int qmin, int qmax)
    {
        int rowLength = x.Length / scales.Length;
        var output = new double[x.Length];
        var passes = new bool[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double s = scales[i / rowLength], zp = zeroPoints[i / rowLength];
            double q = Round(x[i] / s) + zp;
            passes[i] = q >= qmin && q <= qmax;
            output[i] = (Math.Clamp(q, qmin, qmax) - zp) * s;
        }
        return (output, passes);
    }

    /// <summary>
    /// The straight-through surrogate of one fake-quant element: x itself while round(x / s) + zp stays in the grid,
    /// constant beyond (s (clamp(x / s + zp, qmin - 1/2, qmax + 1/2) - zp)). Its derivative is the STE mask away
    /// from the two edges.
    /// </summary>
    public static double Surrogate(double x, double scale, double zeroPoint, int qmin, int qmax) =>
        scale * (Math.Clamp(x / scale + zeroPoint, qmin - 0.5, qmax + 0.5) - zeroPoint);

    /// <summary>LSQ: v = x / s, x^ = s round(clamp(v, Qn, Qp)), mask Qn &lt; v &lt; Qp, d x^ / d s = round(v) - v inside, Qn or Qp outside.</summary>
    public static (double[] Output, bool[] Passes, double[] StepGradient) Learned(double[] x, double scale, int qn, int qp)
    {
        var output = new double[x.Length];
        var passes = new bool[x.Length];
        var step = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double v = x[i] / scale;
            double rounded = Round(Math.Clamp(v, qn, qp));
            output[i] = rounded * scale;
            passes[i] = v > qn && v < qp;
            step[i] = passes[i] ? rounded - v : v <= qn ? qn : qp;
        }
        return (output, passes, step);
    }

    /// <summary>d L / d s = g sum_i upstream_i d x^_i / d s with LSQ's g = 1 / sqrt(N Qp).</summary>
    public static double LearnedStepGradient(double[] x, double[] upstream, double scale, int qn, int qp)
    {
        (_, _, double[] step) = Learned(x, scale, qn, qp);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += upstream[i] * step[i];
        return sum / Math.Sqrt((double)x.Length * qp);
    }

    /// <summary>
    /// LSQ's straight-through surrogate of one element, with the rounding residual r frozen (as autograd through
    /// v + (round(v) - v).detach() treats it): s (clamp(x / s, Qn, Qp) + r). Its derivatives are LSQ's d x^ / d x and
    /// d x^ / d s (before the gradient scale g).
    /// </summary>
    public static double LearnedSurrogate(double x, double scale, double frozenResidual, int qn, int qp)
    {
        double v = x / scale;
        bool inside = v > qn && v < qp;
        return scale * (Math.Clamp(v, qn, qp) + (inside ? frozenResidual : 0));
    }
}
