using System.Globalization;
using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.References;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace GpuDistill.GpuBench;

/// <summary>What to measure and how.</summary>
/// <param name="Sizes">Shapes to time.</param>
/// <param name="CopyBytes">Size of each buffer of the device-to-device copy (capped at a quarter of free memory).</param>
/// <param name="Budget">How long each measurement runs.</param>
/// <param name="MemoryLimitBytes">Free memory to assume instead of asking the device (tests use it).</param>
/// <param name="TimeLimitSeconds">Sizes not started by then are skipped, so the whole run stays within its budget.</param>
public sealed record BenchSettings(IReadOnlyList<BenchSize> Sizes, long CopyBytes = 2L << 30,
    DeviceTiming.Budget? Budget = null, long? MemoryLimitBytes = null, double TimeLimitSeconds = 300)
{
    /// <summary>T of the benchmark (no labels, soft weight 1: the PyTorch composite's math).</summary>
    public const float Temperature = 4f;

    /// <summary>Logits are uniform in [-LogitScale, LogitScale).</summary>
    public const float LogitScale = 10f;
}

/// <summary>The bytes each measured operation is charged with.</summary>
public static class ByteModel
{
    /// <summary>
    /// The fused launch as written: a statistics pass reads student and teacher, a gradient pass reads both again and
    /// writes the gradient, so 5 x 4 bytes per element cross the memory bus unless the second read hits cache.
    /// </summary>
    public const int FusedBytesPerElement = 20;

    /// <summary>The least a fused forward + backward must move: read student and teacher once, write the gradient.</summary>
    public const int CompulsoryBytesPerElement = 12;

    /// <summary>The streaming floor: read two arrays, write one.</summary>
    public const int FloorBytesPerElement = 12;
}

/// <summary>The device's copy bandwidth, from a large device-to-device copy (read + write counted).</summary>
/// <param name="BytesPerCopy">Bytes copied per call.</param>
/// <param name="Timing">Per-copy timing.</param>
public sealed record CopyBandwidth(long BytesPerCopy, DeviceTiming Timing)
{
    /// <summary>2 x bytes / median time, in GB/s (10^9 bytes).</summary>
    public double GigabytesPerSecond => 2.0 * BytesPerCopy / (Timing.MedianMs * 1e-3) / 1e9;
}

/// <summary>One layout's timing at one size, and the check of sampled rows of its gradient.</summary>
/// <param name="Layout">The layout.</param>
/// <param name="Timing">Per-launch timing.</param>
/// <param name="Check">Sampled rows against the float64 reference.</param>
public sealed record LayoutResult(RowLayout Layout, DeviceTiming Timing, Comparison Check);

/// <summary>Everything measured at one size, or why it was skipped.</summary>
/// <param name="Size">The shape.</param>
/// <param name="Skipped">Why it was not measured (null when it was).</param>
/// <param name="Floor">The streaming floor's timing.</param>
/// <param name="Layouts">Each layout's result.</param>
public sealed record SizeResult(BenchSize Size, string? Skipped, DeviceTiming? Floor, IReadOnlyList<LayoutResult> Layouts)
{
    /// <summary>The fastest layout whose sampled rows match the reference (null if none does).</summary>
    public LayoutResult? Best => Layouts.Where(l => l.Check.Passed).MinBy(l => l.Timing.MedianMs);
}

/// <summary>
/// Times the fused KL forward + backward (one launch: per-row loss and gradient) at each size and layout against the
/// device's copy bandwidth and the streaming floor, and checks sampled rows of every measured gradient.
/// </summary>
public static class FusedKLBenchmark
{
    /// <summary>Measures the copy bandwidth of <paramref name="device"/>.</summary>
    /// <param name="device">The device.</param>
    /// <param name="settings">Copy size and budget.</param>
    /// <returns>The bandwidth.</returns>
    public static CopyBandwidth MeasureCopy(ComputeDevice device, BenchSettings settings)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(settings);
        Accelerator accelerator = device.Accelerator;
        long free = FreeBytes(accelerator, settings);
        long elements = Math.Max(1, Math.Min(settings.CopyBytes, free / 4) / sizeof(float));
        using MemoryBuffer1D<float, Stride1D.Dense> source = accelerator.Allocate1D<float>(elements);
        using MemoryBuffer1D<float, Stride1D.Dense> target = accelerator.Allocate1D<float>(elements);
        var fill = new BenchLauncher(accelerator);
        fill.Uniform(source.View, 1, 1f);
        fill.Uniform(target.View, 2, 1f);
        accelerator.Synchronize();
        DeviceTiming timing = DeviceTiming.Measure(() => source.View.CopyTo(target.View), accelerator.Synchronize, settings.Budget);
        return new CopyBandwidth(elements * sizeof(float), timing);
    }

    /// <summary>Measures every size in <paramref name="settings"/>, reporting each on <paramref name="log"/> as it finishes.</summary>
    /// <param name="device">The device.</param>
    /// <param name="settings">Sizes and budget.</param>
    /// <param name="log">Progress lines.</param>
    /// <returns>One result per size.</returns>
    public static IReadOnlyList<SizeResult> Run(ComputeDevice device, BenchSettings settings, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        var launcher = new BenchLauncher(device.Accelerator);
        var results = new List<SizeResult>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        foreach (BenchSize size in settings.Sizes)
        {
            SizeResult result = clock.Elapsed.TotalSeconds > settings.TimeLimitSeconds
                ? Skip(size, string.Create(CultureInfo.InvariantCulture, $"the sweep's time limit ({settings.TimeLimitSeconds:F0} s) was reached"))
                : RunSize(device, launcher, size, settings);
            log.WriteLine(Describe(result));
            results.Add(result);
        }
        return results;
    }

    /// <summary>Bytes the three [B, C] float32 arrays and the row losses of one size take on the device.</summary>
    /// <param name="size">The shape.</param>
    /// <returns>The bytes.</returns>
    public static long RequiredBytes(BenchSize size)
    {
        ArgumentNullException.ThrowIfNull(size);
        return 3 * size.Elements * sizeof(float) + (long)size.Rows * sizeof(float);
    }

    /// <summary>Free device memory: the driver's count on CUDA, the GC's view of the machine otherwise.</summary>
    /// <param name="accelerator">The accelerator.</param>
    /// <param name="settings">An override, when set.</param>
    /// <returns>Bytes free.</returns>
    public static long FreeBytes(Accelerator accelerator, BenchSettings settings)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.MemoryLimitBytes is long limit) return limit;
        if (accelerator is CudaAccelerator cuda) return cuda.GetFreeMemory();
        return Math.Max(0, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - GC.GetTotalMemory(false));
    }

    private static SizeResult RunSize(ComputeDevice device, BenchLauncher launcher, BenchSize size, BenchSettings settings)
    {
        Accelerator accelerator = device.Accelerator;
        long free = FreeBytes(accelerator, settings);
        long required = RequiredBytes(size);
        // Headroom for the driver's own allocations and the kernels' modules.
        long headroom = Math.Min(512L << 20, free / 20);
        if (required > free - headroom)
        {
            return Skip(size, $"needs {FormatBytes(required)} for student, teacher and gradient; {FormatBytes(free)} free");
        }

        MemoryBuffer1D<float, Stride1D.Dense>? s = null, t = null, g = null, r = null;
        try
        {
            s = accelerator.Allocate1D<float>(size.Elements);
            t = accelerator.Allocate1D<float>(size.Elements);
            g = accelerator.Allocate1D<float>(size.Elements);
            r = accelerator.Allocate1D<float>(size.Rows);
            return Measure(device, launcher, size, settings, s.View, t.View, g.View, r.View);
        }
        catch (Exception e) when (e is AcceleratorException or OutOfMemoryException)
        {
            // Out of memory despite the estimate, or a device error; the sizes after it still run where they can.
            return Skip(size, $"{(r is null ? "allocation" : "run")} failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            r?.Dispose();
            g?.Dispose();
            t?.Dispose();
            s?.Dispose();
        }
    }

    private static SizeResult Measure(ComputeDevice device, BenchLauncher launcher, BenchSize size, BenchSettings settings,
        ArrayView1D<float, Stride1D.Dense> s, ArrayView1D<float, Stride1D.Dense> t,
        ArrayView1D<float, Stride1D.Dense> g, ArrayView1D<float, Stride1D.Dense> r)
    {
        Accelerator accelerator = device.Accelerator;
        launcher.Uniform(s, 11, BenchSettings.LogitScale);
        launcher.Uniform(t, 12, BenchSettings.LogitScale);
        accelerator.Synchronize();

        DeviceTiming floor = DeviceTiming.Measure(() => launcher.Subtract(s, t, g), accelerator.Synchronize, settings.Budget);

        RowLossLauncher<SoftmaxKLRow> kl = device.Kernels<RowLossLauncher<SoftmaxKLRow>>();
        var p = new SoftmaxKLRow(size.Rows, size.Classes, BenchSettings.Temperature, 1f, 0f, false,
            SelfCheck.IgnoreIndex, size.Rows);
        var layouts = new List<LayoutResult>();
        foreach (RowLayout layout in Layouts.All)
        {
            g.MemSetToZero();
            DeviceTiming timing = DeviceTiming.Measure(
                () => kl.Launch(s, t, default, g, r, p, layout), accelerator.Synchronize, settings.Budget);
            layouts.Add(new LayoutResult(layout, timing, CheckSampledRows(size, s, t, g, r)));
        }
        return new SizeResult(size, null, floor, layouts);
    }

    /// <summary>
    /// The first, middle and last rows of one launch's output against the float64 reference: the last row ends at
    /// the last element, so an index that wraps past 2^31 shows up here.
    /// </summary>
    /// <param name="size">The shape launched (T = <see cref="BenchSettings.Temperature"/>, no labels, weight 1).</param>
    /// <param name="s">Student logits on the device.</param>
    /// <param name="t">Teacher logits on the device.</param>
    /// <param name="g">The launch's gradient.</param>
    /// <param name="r">The launch's row losses.</param>
    /// <returns>The sampled rows' errors and bounds.</returns>
    public static Comparison CheckSampledRows(BenchSize size, ArrayView1D<float, Stride1D.Dense> s,
        ArrayView1D<float, Stride1D.Dense> t, ArrayView1D<float, Stride1D.Dense> g, ArrayView1D<float, Stride1D.Dense> r)
    {
        int[] rows = new[] { 0, size.Rows / 2, size.Rows - 1 }.Distinct().ToArray();
        int c = size.Classes;
        float[] student = new float[(long)rows.Length * c], teacher = new float[student.Length], gradient = new float[student.Length];
        float[] rowLoss = new float[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            long offset = (long)rows[i] * c;
            s.SubView(offset, c).CopyToCPU(ref student[i * c], c);
            t.SubView(offset, c).CopyToCPU(ref teacher[i * c], c);
            g.SubView(offset, c).CopyToCPU(ref gradient[i * c], c);
            r.SubView(rows[i], 1).CopyToCPU(ref rowLoss[i], 1);
        }

        // The reference over the sampled rows alone divides by their count; the launch divided by all B rows.
        (double loss, double[] expected) = SoftmaxKLReference.Compute(student, teacher, rows.Length, c, BenchSettings.Temperature);
        double rescale = (double)rows.Length / size.Rows;
        for (int i = 0; i < expected.Length; i++) expected[i] *= rescale;
        return Comparison.Of(rowLoss.Sum(v => (double)v), gradient, loss * rescale, expected,
            Comparison.LossMagnitude(student, teacher, BenchSettings.Temperature) * rescale,
            BenchSettings.Temperature / size.Rows);
    }

    /// <summary>Bytes in GB (10^9) from 1 GB up, in MB below.</summary>
    /// <param name="bytes">A byte count.</param>
    /// <returns>E.g. "25.8 GB" or "12.0 MB".</returns>
    public static string FormatBytes(long bytes) => bytes >= 1_000_000_000
        ? string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e9:F1} GB")
        : string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:F1} MB");

    private static SizeResult Skip(BenchSize size, string reason) => new(size, reason, null, []);

    private static string Describe(SizeResult result)
    {
        if (result.Skipped is not null) return $"  {result.Size,-13} skipped: {result.Skipped}";
        string layouts = string.Join("  ", result.Layouts.Select(l => string.Create(CultureInfo.InvariantCulture,
            $"{Layouts.Name(l.Layout)} {l.Timing.MedianMs:F3} ms{(l.Check.Passed ? "" : " (MISMATCH)")}")));
        return string.Create(CultureInfo.InvariantCulture,
            $"  {result.Size,-13} floor {result.Floor!.MedianMs:F3} ms  {layouts}");
    }
}
