using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Quantization;

/// <summary>
/// Host side of the fake-quantization kernels for one accelerator: loads them once, checks the views, launches and
/// synchronises. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>); callers serialise
/// launches with the device's launch lock, since the launcher owns one non-finite counter.
/// </summary>
public sealed class QuantizationLauncher : IKernelSet<QuantizationLauncher>
{
    /// <summary>Elements one range thread reads on a GPU: enough threads to fill it, few enough to merge cheaply.</summary>
    private const int GpuElementsPerThread = 256;

    /// <summary>
    /// Elements one range thread reads on the CPU accelerator, where every simulated thread costs a dispatch:
    /// a few chunks per core.
    /// </summary>
    private const int CpuElementsPerThread = 1 << 16;

    /// <summary>At most this many range threads in all, so the chunk scratch stays small.</summary>
    private const int MaxChunks = 1 << 16;

    private readonly Accelerator accelerator;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<RangeStatistics>, int, int> chunkRanges;
    private readonly Action<Index1D, ArrayView<RangeStatistics>, ArrayView<RangeStatistics>, int> rowRanges;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
        ArrayView<byte>, ArrayView<int>, int, int, float, float> fakeQuantize;
    private readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>,
        ArrayView<int>, int, float, float, float> fakeQuantizeLearned;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> nonFinite;

    private QuantizationLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        chunkRanges = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<RangeStatistics>,
            int, int>(QuantizationKernels.ChunkRanges);
        rowRanges = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<RangeStatistics>,
            ArrayView<RangeStatistics>, int>(QuantizationKernels.RowRanges);
        fakeQuantize = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<int>, int, int, float, float>(
            QuantizationKernels.FakeQuantize);
        fakeQuantizeLearned = accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<byte>, ArrayView<float>, ArrayView<int>, int, float, float, float>(
            QuantizationKernels.FakeQuantizeLearned);
        nonFinite = accelerator.Allocate1D<int>(1);
    }

    /// <inheritdoc/>
    public static QuantizationLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new QuantizationLauncher(accelerator);
    }

    /// <summary>The statistics of each row of <paramref name="values"/> (finite min and max, sum |x|, non-finite count).</summary>
    /// <param name="values">The values, [rows * rowLength] row-major.</param>
    /// <param name="rows">Output, one entry per row.</param>
    /// <param name="rowLength">Elements per row (&gt; 0).</param>
    public void Ranges(ArrayView<float> values, ArrayView<RangeStatistics> rows, int rowLength)
    {
        int rowCount = RequireRows(values, rows.Length, rowLength, nameof(rows));
        int perThread = accelerator.AcceleratorType == AcceleratorType.CPU ? CpuElementsPerThread : GpuElementsPerThread;
        int chunksPerRow = (int)Math.Clamp((rowLength + (long)perThread - 1) / perThread, 1, Math.Max(1, MaxChunks / rowCount));
        using MemoryBuffer1D<RangeStatistics, Stride1D.Dense> chunks = accelerator.Allocate1D<RangeStatistics>((long)rowCount * chunksPerRow);
        chunkRanges(rowCount * chunksPerRow, values, chunks.View, rowLength, chunksPerRow);
        rowRanges(rowCount, chunks.View, rows, chunksPerRow);
        accelerator.Synchronize();
    }

    /// <summary>
    /// Fake-quantizes every row with its scale and zero point onto [<paramref name="minimum"/>,
    /// <paramref name="maximum"/>] and writes the STE mask (<see cref="QuantizationKernels.FakeQuantize"/>).
    /// </summary>
    /// <param name="values">x, [rows * rowLength].</param>
    /// <param name="scales">s per row, each positive and finite.</param>
    /// <param name="zeroPoints">zp per row, integers in [qmin, qmax].</param>
    /// <param name="output">Output x^.</param>
    /// <param name="passes">Output mask (1 passes the gradient).</param>
    /// <param name="rowLength">Elements per row.</param>
    /// <param name="minimum">qmin.</param>
    /// <param name="maximum">qmax (&gt; qmin).</param>
    /// <returns>How many elements of <paramref name="values"/> were NaN or infinite.</returns>
    public int FakeQuantize(ArrayView<float> values, ArrayView<float> scales, ArrayView<float> zeroPoints,
        ArrayView<float> output, ArrayView<byte> passes, int rowLength, int minimum, int maximum)
    {
        RequireRows(values, scales.Length, rowLength, nameof(scales));
        RequireLength(zeroPoints, scales.Length, nameof(zeroPoints));
        RequireLength(output, values.Length, nameof(output));
        RequireLength(passes, values.Length, nameof(passes));
        RequireGrid(minimum, maximum);
        nonFinite.MemSetToZero();
        int threads = Threads(values.Length);
        fakeQuantize(threads, values, scales, zeroPoints, output, passes, nonFinite.View, threads, rowLength, minimum,
            maximum);
        return ReadNonFinite();
    }

    /// <summary>
    /// LSQ fake quantization of the whole view with one learned step (<see cref="QuantizationKernels.FakeQuantizeLearned"/>).
    /// </summary>
    /// <param name="values">x.</param>
    /// <param name="output">Output x^.</param>
    /// <param name="passes">Output mask (1 passes the gradient to x).</param>
    /// <param name="stepGradient">Output d x^ / d s per element.</param>
    /// <param name="scale">s, positive and finite.</param>
    /// <param name="minimum">Qn.</param>
    /// <param name="maximum">Qp (&gt; Qn).</param>
    /// <returns>How many elements of <paramref name="values"/> were NaN or infinite.</returns>
    public int FakeQuantizeLearned(ArrayView<float> values, ArrayView<float> output, ArrayView<byte> passes,
        ArrayView<float> stepGradient, float scale, int minimum, int maximum)
    {
        if (values.Length is 0 or > int.MaxValue)
            throw new ArgumentException($"values has {values.Length} elements; expected 1 to {int.MaxValue}.", nameof(values));
        RequireLength(output, values.Length, nameof(output));
        RequireLength(passes, values.Length, nameof(passes));
        RequireLength(stepGradient, values.Length, nameof(stepGradient));
        RequireGrid(minimum, maximum);
        if (!(scale > 0 && float.IsFinite(scale)))
            throw new ArgumentOutOfRangeException(nameof(scale), scale, "the step size must be positive and finite.");
        nonFinite.MemSetToZero();
        int threads = Threads(values.Length);
        fakeQuantizeLearned(threads, values, output, passes, stepGradient, nonFinite.View, threads, scale, minimum,
            maximum);
        return ReadNonFinite();
    }

    /// <summary>
    /// Threads of an elementwise launch: as many as the accelerator runs at once, each striding over the elements.
    /// Measured on the CPU accelerator (perf/, fake-quant): one thread per element took 5.6 s for 800k elements.
    /// </summary>
    private int Threads(long elements) => (int)Math.Clamp(elements, 1, Math.Max(1, (long)accelerator.MaxNumThreads));

    private int ReadNonFinite()
    {
        accelerator.Synchronize();
        return nonFinite.GetAsArray1D()[0];
    }

    /// <summary>Requires values of rows x rowLength elements, fewer than 2^31 (the kernels index with int).</summary>
    private static int RequireRows(ArrayView<float> values, long rows, int rowLength, string rowsName)
    {
        if (rowLength <= 0) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "rows must not be empty.");
        if (rows <= 0) throw new ArgumentException("At least one row is needed.", rowsName);
        if (values.Length != rows * rowLength)
            throw new ArgumentException($"values has {values.Length} elements; expected {rows} rows of {rowLength}.", nameof(values));
        if (values.Length > int.MaxValue)
            throw new ArgumentException($"values has {values.Length} elements; at most {int.MaxValue} are supported.", nameof(values));
        return (int)rows;
    }

    private static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }

    private static void RequireGrid(int minimum, int maximum)
    {
        if (maximum <= minimum)
            throw new ArgumentOutOfRangeException(nameof(maximum), maximum, $"qmax must exceed qmin ({minimum}).");
    }
}
