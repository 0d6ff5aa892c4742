using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Quantization;

/// <summary>
/// Fake quantization with the straight-through estimator (loss-spec-2 8.1). The values are rows (one output channel
/// of a weight, or the whole tensor of an activation) and each row has its own grid. A range pass (chunks, then rows)
/// finds what the host needs to choose scales; one elementwise pass then quantizes, dequantizes and writes the
/// gradient mask, and counts NaN or infinite inputs so that a bad tensor is reported without another pass.
/// </summary>
/// <remarks>
/// Rounding is half to even (<see cref="XMath.RoundToEven(float)"/>, as ONNX QuantizeLinear and PyTorch), of
/// x / s computed by division, as ONNX does, not by multiplying with a reciprocal: the two differ at ties.
/// </remarks>
public static class QuantizationKernels
{
    /// <summary>
    /// One thread per (row, chunk): the statistics of elements chunk, chunk + chunksPerRow, ... of the row. The
    /// stride makes neighbouring threads read neighbouring elements.
    /// </summary>
    /// <param name="index">row * chunksPerRow + chunk.</param>
    /// <param name="values">The values, [rows * rowLength] row-major.</param>
    /// <param name="chunks">Output, one entry per (row, chunk).</param>
    /// <param name="rowLength">Elements per row.</param>
    /// <param name="chunksPerRow">Threads per row.</param>
    public static void ChunkRanges(Index1D index, ArrayView<float> values, ArrayView<RangeStatistics> chunks,
        int rowLength, int chunksPerRow)
    {
        int row = index / chunksPerRow;
        int chunk = index - row * chunksPerRow;
        long offset = (long)row * rowLength;
        RangeStatistics result = RangeStatistics.Empty;
        for (int i = chunk; i < rowLength; i += chunksPerRow)
        {
            float x = values[offset + i];
            if (!XMath.IsFinite(x))
            {
                result.NonFinite++;
                continue;
            }
            result.Minimum = XMath.Min(result.Minimum, x);
            result.Maximum = XMath.Max(result.Maximum, x);
            result.AbsoluteSum += XMath.Abs(x);
        }
        chunks[index] = result;
    }

    /// <summary>One thread per row: merges the row's chunk statistics.</summary>
    /// <param name="row">The row.</param>
    /// <param name="chunks">Statistics per (row, chunk), from <see cref="ChunkRanges"/>.</param>
    /// <param name="rows">Output, one entry per row.</param>
    /// <param name="chunksPerRow">Chunks per row.</param>
    public static void RowRanges(Index1D row, ArrayView<RangeStatistics> chunks, ArrayView<RangeStatistics> rows,
        int chunksPerRow)
    {
        RangeStatistics result = RangeStatistics.Empty;
        long offset = (long)row.X * chunksPerRow;
        for (int c = 0; c < chunksPerRow; c++)
        {
            RangeStatistics part = chunks[offset + c];
            result.Minimum = XMath.Min(result.Minimum, part.Minimum);
            result.Maximum = XMath.Max(result.Maximum, part.Maximum);
            result.AbsoluteSum += part.AbsoluteSum;
            result.NonFinite += part.NonFinite;
        }
        rows[row] = result;
    }

    /// <summary>
    /// Grid-stride over the elements: q = round(x / s) + zp, x^ = (clamp(q, qmin, qmax) - zp) * s, and the STE mask
    /// qmin &lt;= q &lt;= qmax (of the rounded value, as PyTorch's fake_quantize), with s and zp those of the
    /// element's row.
    /// </summary>
    /// <param name="thread">This thread; it handles elements thread, thread + threads, ...</param>
    /// <param name="values">x, [rows * rowLength].</param>
    /// <param name="scales">s per row (positive).</param>
    /// <param name="zeroPoints">zp per row (an integer in [qmin, qmax], held as float).</param>
    /// <param name="output">Output x^, like <paramref name="values"/>.</param>
    /// <param name="passes">Output mask: 1 where the gradient passes, 0 where the value was clamped.</param>
    /// <param name="nonFinite">A counter, incremented once per NaN or infinite x.</param>
    /// <param name="threads">Threads launched.</param>
    /// <param name="rowLength">Elements per row.</param>
    /// <param name="minimum">qmin.</param>
    /// <param name="maximum">qmax.</param>
    public static void FakeQuantize(Index1D thread, ArrayView<float> values, ArrayView<float> scales,
        ArrayView<float> zeroPoints, ArrayView<float> output, ArrayView<byte> passes, ArrayView<int> nonFinite,
        int threads, int rowLength, float minimum, float maximum)
    {
        for (long index = thread; index < values.Length; index += threads)
        {
            long row = index / rowLength;
            float x = values[index];
            float scale = scales[row];
            float zeroPoint = zeroPoints[row];
            float q = XMath.RoundToEven(x / scale) + zeroPoint;
            output[index] = (XMath.Clamp(q, minimum, maximum) - zeroPoint) * scale;
            passes[index] = q >= minimum && q <= maximum ? (byte)1 : (byte)0;
            if (!XMath.IsFinite(x)) Atomic.Add(ref nonFinite[0], 1);
        }
    }

    /// <summary>
    /// Grid-stride over the elements, LSQ (Esser et al. 2020) with a learned step s and zp = 0: v = x / s,
    /// x^ = s * round(clamp(v, Qn, Qp)), the mask Qn &lt; v &lt; Qp, and d x^ / d s: round(v) - v inside,
    /// Qn at or below, Qp at or above (before LSQ's gradient scale, which the host applies).
    /// </summary>
    /// <param name="thread">This thread; it handles elements thread, thread + threads, ...</param>
    /// <param name="values">x.</param>
    /// <param name="output">Output x^.</param>
    /// <param name="passes">Output mask: 1 where the gradient passes to x.</param>
    /// <param name="stepGradient">Output d x^ / d s per element.</param>
    /// <param name="nonFinite">A counter, incremented once per NaN or infinite x.</param>
    /// <param name="threads">Threads launched.</param>
    /// <param name="scale">s (positive).</param>
    /// <param name="minimum">Qn.</param>
    /// <param name="maximum">Qp.</param>
    public static void FakeQuantizeLearned(Index1D thread, ArrayView<float> values, ArrayView<float> output,
        ArrayView<byte> passes, ArrayView<float> stepGradient, ArrayView<int> nonFinite, int threads, float scale,
        float minimum, float maximum)
    {
        for (long index = thread; index < values.Length; index += threads)
        {
            float x = values[index];
            float v = x / scale;
            bool inside = v > minimum && v < maximum;
            float rounded = XMath.RoundToEven(XMath.Clamp(v, minimum, maximum));
            output[index] = rounded * scale;
            passes[index] = inside ? (byte)1 : (byte)0;
            stepGradient[index] = inside ? rounded - v : v <= minimum ? minimum : maximum;
            if (!XMath.IsFinite(x)) Atomic.Add(ref nonFinite[0], 1);
        }
    }
}
