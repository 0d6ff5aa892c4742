using GpuDistill.Autograd;
using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Kernels.Quantization;
using GpuDistill.Validation;
using ILGPU.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Quantization;

/// <summary>
/// Fake quantization with the straight-through estimator (loss-spec-2 8.1): quantize to a b-bit integer grid and
/// dequantize again, in float32, so a network trains with the values it will have after quantization. The gradient
/// passes unchanged where the value fell inside the grid and is 0 where it was clamped (the mask tests the rounded
/// value, as PyTorch's fake_quantize).
/// </summary>
/// <remarks>
/// Runs the fused ILGPU kernels (<see cref="QuantizationKernels"/>: a range pass where scales come from the data,
/// then one pass that rounds, clamps, dequantizes, writes the mask and counts non-finite inputs) on every device;
/// a host device (<c>simd</c>) runs them on its CPU accelerator. Measured against the same math in libtorch ops
/// (perf/, <c>--only fake-quant</c>, shared 2-core machine at load 15-26, medians of interleaved rounds): the kernels
/// took 38-45 ms against 115 ms for a 128x8x28x28 activation (forward and backward) and 253 ms against 313 ms for
/// 128x32x28x28, but 11-16 ms against 0.8 ms for a 128x64x3x3 weight, where the launches dominate; a whole 4-bit
/// small-cnn training step took 1.4 s with the kernels (the float step 0.96 s). Inputs are float32 CPU tensors of
/// any shape with fewer than 2^31 elements; NaN or infinity is an <see cref="ArgumentException"/> naming the input.
/// </remarks>
public static class Quantize
{
    /// <summary>Per-tensor affine fake quantization: x^ = (clamp(round(x / s) + zp, qmin, qmax) - zp) s.</summary>
    /// <param name="input">x, float32 CPU, any shape.</param>
    /// <param name="scale">s, positive and finite.</param>
    /// <param name="zeroPoint">zp, in [qmin, qmax].</param>
    /// <param name="grid">The integer grid.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>x^, shaped like x; its gradient is the upstream gradient masked to the unclamped elements.</returns>
    public static Tensor FakeQuantize(Tensor input, float scale, int zeroPoint, IntegerGrid grid, ComputeDevice? device = null)
    {
        RequireInput(input, nameof(input), 0);
        return FakeQuantizeRows(input, [scale], [zeroPoint], grid, device, nameof(input));
    }

    /// <summary>
    /// Per-channel affine fake quantization along axis 0: channel k (input[k]) uses scale s_k and zero point zp_k.
    /// Weights use <see cref="FakeQuantizeWeights"/>, which chooses the scales.
    /// </summary>
    /// <param name="input">x, float32 CPU, [C, ...].</param>
    /// <param name="scales">s_k, C of them, each positive and finite.</param>
    /// <param name="zeroPoints">zp_k, C of them, each in [qmin, qmax].</param>
    /// <param name="grid">The integer grid.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>x^, shaped like x.</returns>
    public static Tensor FakeQuantizePerChannel(Tensor input, IReadOnlyList<float> scales, IReadOnlyList<int> zeroPoints,
        IntegerGrid grid, ComputeDevice? device = null)
    {
        long channels = RequireInput(input, nameof(input), 1);
        ArgumentNullException.ThrowIfNull(scales);
        if (scales.Count != channels)
            throw new ArgumentException($"scales must hold one scale per channel of input ({channels}); got {scales.Count}.", nameof(scales));
        return FakeQuantizeRows(input, scales, zeroPoints, grid, device, nameof(input));
    }

    /// <summary>
    /// Symmetric per-output-channel weight fake quantization: s_k = max|W_k| / qmax on
    /// <see cref="IntegerGrid.Symmetric"/>(bits), zero point 0. At 2 bits the weights are ternary, {-s_k, 0, s_k}.
    /// </summary>
    /// <param name="weight">W, float32 CPU, [out, ...] (a convolution's [out, in, kh, kw] or a linear layer's [out, in]).</param>
    /// <param name="bits">Bit width, 2..16.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>W^, shaped like W.</returns>
    /// <param name="scaling">How the scales are found: <see cref="WeightScaling.Max"/> as above, or <see cref="WeightScaling.Mse"/>.</param>
    public static Tensor FakeQuantizeWeights(Tensor weight, int bits, ComputeDevice? device = null, WeightScaling scaling = WeightScaling.Max)
    {
        IntegerGrid grid = IntegerGrid.Symmetric(bits);
        float[] scales = WeightScales(weight, bits, device, scaling);
        return FakeQuantizeRows(weight, scales, new int[scales.Length], grid, device, nameof(weight));
    }

    /// <summary>
    /// The per-output-channel scales <see cref="FakeQuantizeWeights"/> uses: max|W_k| / qmax, or with
    /// <see cref="WeightScaling.Mse"/> the clipped scale r max|W_k| / qmax, r in <see cref="ClippingRatios"/>, whose
    /// fake-quantized channel is nearest W_k in squared error (the largest r on a tie).
    /// </summary>
    /// <param name="weight">W, float32 CPU, [out, ...].</param>
    /// <param name="bits">Bit width, 2..16.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="scaling">How the scales are found.</param>
    /// <returns>One scale per output channel.</returns>
    public static float[] WeightScales(Tensor weight, int bits, ComputeDevice? device = null, WeightScaling scaling = WeightScaling.Max)
    {
        IntegerGrid grid = IntegerGrid.Symmetric(bits);
        if (!Enum.IsDefined(scaling)) throw new ArgumentOutOfRangeException(nameof(scaling), scaling, "unknown weight scaling.");
        float[] maxScales = [.. Ranges(weight, (int)RequireInput(weight, nameof(weight), 1), device, nameof(weight))
            .Select(r => QuantizationScales.Symmetric(r.AbsoluteMaximum, grid))];
        return scaling == WeightScaling.Max ? maxScales : LeastErrorScales(weight, maxScales, grid);
    }

    /// <summary>The clipping ratios <see cref="WeightScaling.Mse"/> tries: 1, 0.95, ..., 0.2.</summary>
    public static IReadOnlyList<float> ClippingRatios { get; } = [.. Enumerable.Range(0, 17).Select(k => 1f - 0.05f * k)];

    /// <summary>
    /// Per row of <paramref name="values"/> ([R, ...]: a weight's output channels, or one row for a whole activation),
    /// the scale r s_max (r in <see cref="ClippingRatios"/>) of least squared fake-quantization error on
    /// <paramref name="grid"/>, in libtorch ops over every row and as many ratios at once as keep the [R, ratios, N]
    /// temporary within 2^24 elements (all 17 for a weight; a few at a time for a batch of activations).
    /// </summary>
    /// <param name="values">The tensor to quantize, [R, ...].</param>
    /// <param name="maxScales">Each row's unclipped scale (max |x| / Qp).</param>
    /// <param name="grid">The integer grid.</param>
    /// <returns>One scale per row; the largest ratio among equal errors.</returns>
    internal static float[] LeastErrorScales(Tensor values, float[] maxScales, IntegerGrid grid)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // Held Scalars, not bare numbers: this runs on the training path (see Scalars).
        using Scalar low = ((double)grid.Minimum).ToScalar(), high = ((double)grid.Maximum).ToScalar();
        using Scalar smallest = ((double)QuantizationScales.MinimumScale).ToScalar();
        Tensor x = values.detach().reshape(maxScales.Length, 1, -1);
        Tensor scales = tensor(maxScales).unsqueeze(1).mul(tensor([.. ClippingRatios])).clamp_min(smallest).unsqueeze(2);
        long perRatio = x.numel(), chunk = Math.Max(1, Math.Min(ClippingRatios.Count, (1L << 24) / Math.Max(1, perRatio)));
        var errors = new List<Tensor>();
        for (long first = 0; first < ClippingRatios.Count; first += chunk)
        {
            Tensor s = scales.narrow(1, first, Math.Min(chunk, ClippingRatios.Count - first));
            errors.Add(x.div(s).round().clamp(low, high).mul(s).add(x, Scalars.MinusOne).square().sum(2));
        }
        // argmin takes the first minimum: the largest ratio among equal errors.
        Tensor best = cat(errors, 1).argmin(1, keepdim: true);
        return scales.squeeze(2).gather(1, best).squeeze(1).data<float>().ToArray();
    }

    /// <summary>
    /// LSQ (Esser et al. 2020): x^ = s round(clamp(x / s, Qn, Qp)) with a learned step s and zero point 0. The input
    /// gets the upstream gradient where Qn &lt; x / s &lt; Qp; the step gets g * sum(upstream * d x^ / d s) with
    /// d x^ / d s = round(v) - v inside, Qn or Qp outside, and g = 1 / sqrt(N Qp).
    /// </summary>
    /// <param name="input">x, float32 CPU, any shape (N elements).</param>
    /// <param name="step">s, a one-element float32 CPU tensor, positive and finite (normally a parameter).</param>
    /// <param name="grid">[Qn, Qp]: <see cref="IntegerGrid.NonNegative"/> after a ReLU, <see cref="IntegerGrid.TwosComplement"/> otherwise.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>x^, shaped like x.</returns>
    public static Tensor FakeQuantizeLearned(Tensor input, Tensor step, IntegerGrid grid, ComputeDevice? device = null)
    {
        long elements = RequireInput(input, nameof(input), 0);
        grid.Require(nameof(grid));
        TensorChecks.RequireFloatCpu(step, nameof(step), (int)step.dim());
        if (step.numel() != 1)
            throw new ArgumentException($"step must hold one element; got shape {TensorChecks.Shape(step)}.", nameof(step));
        float s = step.detach().item<float>();
        if (!(s > 0 && float.IsFinite(s)))
            throw new ArgumentOutOfRangeException(nameof(step), s, "the step size must be positive and finite.");
        double gradientScale = 1 / Math.Sqrt((double)elements * grid.Maximum);
        return LearnedFakeQuantizeFunction.apply(input, step,
            new LearnedFakeQuantizeRequest(device ?? ComputeDevice.Default, grid, gradientScale));
    }

    /// <summary>
    /// The range of each of <paramref name="rows"/> equal slices of the flattened input: 1 for the whole tensor, C for
    /// the channels of a [C, ...] tensor. One fused pass (min, max and sum |x| together).
    /// </summary>
    /// <param name="input">x, float32 CPU, any shape.</param>
    /// <param name="rows">How many slices; it must divide the element count.</param>
    /// <param name="device">Accelerator; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>One range per slice.</returns>
    public static ValueRange[] Ranges(Tensor input, int rows, ComputeDevice? device = null)
    {
        long elements = RequireInput(input, nameof(input), 0);
        if (rows <= 0 || elements % rows != 0)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"rows must be positive and divide the {elements} elements of input.");
        return Ranges(input, rows, device, nameof(input));
    }

    private static ValueRange[] Ranges(Tensor input, int rows, ComputeDevice? device, string name)
    {
        ComputeDevice target = device ?? ComputeDevice.Default;
        using Tensor x = input.detach().contiguous();
        int rowLength = (int)(x.numel() / rows);
        RangeStatistics[] statistics;
        lock (target.LaunchLock)
        {
            using var dx = DeviceArray<float>.ForInput(target, x);
            using var result = target.Accelerator.Allocate1D<RangeStatistics>(rows);
            target.Kernels<QuantizationLauncher>().Ranges(dx.View, result.View, rowLength);
            statistics = result.GetAsArray1D();
        }
        long bad = statistics.Sum(s => (long)s.NonFinite);
        if (bad > 0) throw FakeQuantizeFunction.NonFinite(name, bad);
        return [.. statistics.Select(s => new ValueRange(s.Minimum, s.Maximum, (double)s.AbsoluteSum / rowLength))];
    }

    /// <summary>Fake-quantizes scales.Count equal slices of a checked input, slice k with scale k and zero point k.</summary>
    private static Tensor FakeQuantizeRows(Tensor input, IReadOnlyList<float> scales, IReadOnlyList<int> zeroPoints,
        IntegerGrid grid, ComputeDevice? device, string name)
    {
        ArgumentNullException.ThrowIfNull(zeroPoints);
        grid.Require(nameof(grid));
        if (zeroPoints.Count != scales.Count)
            throw new ArgumentException($"zeroPoints must hold one zero point per scale ({scales.Count}); got {zeroPoints.Count}.", nameof(zeroPoints));
        for (int k = 0; k < scales.Count; k++)
        {
            if (!(scales[k] > 0 && float.IsFinite(scales[k])))
                throw new ArgumentOutOfRangeException(nameof(scales), scales[k], $"every scale must be positive and finite; scale {k} is not.");
            if (zeroPoints[k] < grid.Minimum || zeroPoints[k] > grid.Maximum)
                throw new ArgumentOutOfRangeException(nameof(zeroPoints), zeroPoints[k], $"every zero point must lie in the grid {grid}; zero point {k} does not.");
        }
        var request = new FakeQuantizeRequest(device ?? ComputeDevice.Default, [.. scales],
            [.. zeroPoints.Select(z => (float)z)], grid, name);
        return FakeQuantizeFunction.apply(input, request);
    }

    /// <summary>
    /// Requires a float32 CPU tensor of at least <paramref name="minRank"/> dimensions, not empty, with fewer than
    /// 2^31 elements; returns the size of dimension 0 (or the element count when the rank may be 0).
    /// </summary>
    private static long RequireInput(Tensor? input, string name, int minRank)
    {
        ArgumentNullException.ThrowIfNull(input, name);
        TensorChecks.RequireFloatCpu(input, name, (int)Math.Max(input.IsInvalid ? 0 : input.dim(), minRank));
        if (input.numel() > int.MaxValue)
            throw new ArgumentException($"{name} has {input.numel()} elements; at most {int.MaxValue} are supported.", name);
        return minRank == 0 ? input.numel() : input.shape[0];
    }
}
