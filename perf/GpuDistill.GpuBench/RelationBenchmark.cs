using System.Diagnostics;
using System.Globalization;
using System.Text;
using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Kernels.Relations.FlowMatrix;
using GpuDistill.Kernels.Relations.RelationalAngle;
using GpuDistill.Kernels.Relations.RelationalDistance;
using GpuDistill.Kernels.Relations.SimilarityPreserving;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.GpuBench;

/// <summary>
/// One relation or attention-transfer timing: the kernel and its size, written as torch_reference.py parses it
/// ("sp", "rkd-distance", "rkd-angle": BxD; "fsp": BxC1xC2xHxW; "at-loss": BxCxHxW).
/// </summary>
/// <param name="Kernel">The kernel family.</param>
/// <param name="Size">The dimensions joined by 'x'.</param>
public sealed record RelationCase(string Kernel, string Size)
{
    /// <summary>The issue-5 sizes: SP at B = 128 and 1024 with D = 4096; RKD distance and angle at B = 64 and 256 with
    /// D = 512; FSP at B = 64, 64 -> 128 channels, 16x16; AT at 64x64x32x32, 128x256x16x16 and 8x512x56x56.</summary>
    public static IReadOnlyList<RelationCase> Default { get; } =
    [
        new("sp", "128x4096"), new("sp", "1024x4096"),
        new("rkd-distance", "64x512"), new("rkd-distance", "256x512"),
        new("rkd-angle", "64x512"), new("rkd-angle", "256x512"),
        new("fsp", "64x64x128x16x16"),
        new("at-loss", "64x64x32x32"), new("at-loss", "128x256x16x16"), new("at-loss", "8x512x56x56"),
    ];

    /// <summary>Tiny sizes of every kernel: a smoke run of the same code on the CPU accelerator (tests).</summary>
    public static IReadOnlyList<RelationCase> Smoke { get; } =
    [
        new("sp", "8x16"), new("rkd-distance", "8x16"), new("rkd-angle", "8x16"), new("fsp", "4x3x5x4x4"),
        new("at-loss", "4x6x5x5"),
    ];

    /// <summary>The dimensions.</summary>
    public int[] Dimensions => Size.Split('x').Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();

    /// <inheritdoc/>
    public override string ToString() => $"{Kernel} {Size}";
}

/// <summary>One timing, or why it was skipped.</summary>
/// <param name="Case">What was timed.</param>
/// <param name="Timing">Per forward + backward call (null when skipped).</param>
/// <param name="InputBytes">Student and teacher features.</param>
/// <param name="OutputBytes">Gradient and per-row loss.</param>
/// <param name="ScratchBytes">Device memory allocated per call besides inputs and outputs (by the launcher for the
/// relations, by the benchmark for attention transfer's three B x H x W maps).</param>
/// <param name="Loss">The last call's loss (row shares summed), a sanity check that it is finite.</param>
/// <param name="Skipped">Why it was not measured (null when it was).</param>
public sealed record RelationResult(RelationCase Case, DeviceTiming? Timing, long InputBytes, long OutputBytes,
    long ScratchBytes, double Loss, string? Skipped)
{
    /// <summary>Measured and finite.</summary>
    public bool Passed => Skipped is null && double.IsFinite(Loss);
}

/// <summary>
/// Times the relation launchers and the fused attention-transfer loss (forward and backward in one call each, as the
/// library runs them: the relation launchers allocate their scratch, launch and synchronise) on device-filled inputs.
/// </summary>
public static class RelationBenchmark
{
    /// <summary>The CSV header; torch_reference.py reads the columns by name.</summary>
    public const string CsvHeader =
        "device,kernel,size,median_ms,p20_ms,p80_ms,samples,calls_per_sample,input_bytes,output_bytes,scratch_bytes,loss,note";

    /// <summary>Times every case, reporting each on <paramref name="log"/> as it finishes.</summary>
    /// <param name="device">The device.</param>
    /// <param name="cases">What to time.</param>
    /// <param name="budget">How long each measurement runs (null: the default).</param>
    /// <param name="log">Progress lines.</param>
    /// <param name="timeLimitSeconds">Cases not started by then are skipped.</param>
    /// <returns>One result per case.</returns>
    public static IReadOnlyList<RelationResult> Run(ComputeDevice device, IReadOnlyList<RelationCase> cases,
        DeviceTiming.Budget? budget, TextWriter log, double timeLimitSeconds = 120)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(cases);
        ArgumentNullException.ThrowIfNull(log);
        var fill = new BenchLauncher(device.Accelerator);
        var clock = Stopwatch.StartNew();
        var results = new List<RelationResult>();
        foreach (RelationCase c in cases)
        {
            RelationResult result;
            if (clock.Elapsed.TotalSeconds > timeLimitSeconds)
            {
                result = new RelationResult(c, null, 0, 0, 0, double.NaN,
                    string.Create(CultureInfo.InvariantCulture, $"the time limit ({timeLimitSeconds:F0} s) was reached"));
            }
            else
            {
                try
                {
                    result = Measure(device, fill, c, budget);
                }
                catch (Exception e) when (e is AcceleratorException or OutOfMemoryException or ArgumentException)
                {
                    result = new RelationResult(c, null, 0, 0, 0, double.NaN, $"failed: {e.GetType().Name}: {e.Message}");
                }
            }
            log.WriteLine(Describe(result));
            results.Add(result);
        }
        return results;
    }

    /// <summary>The table: one line per case.</summary>
    /// <param name="results">The results.</param>
    /// <returns>Lines ending in a newline.</returns>
    public static string Table(IReadOnlyList<RelationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var text = new StringBuilder();
        text.AppendLine("relation and attention-transfer kernels, forward + backward per call (float32; median):");
        text.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"{"kernel",-13} {"size",-16} {"ms",9} {"p20-p80 ms",17} {"scratch",10} {"in+out",10}  loss"));
        foreach (RelationResult r in results)
        {
            if (r.Timing is null)
            {
                text.AppendLine($"{r.Case.Kernel,-13} {r.Case.Size,-16} skipped: {r.Skipped}");
                continue;
            }
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Case.Kernel,-13} {r.Case.Size,-16} {r.Timing.MedianMs,9:F3} {r.Timing.P20Ms,8:F3}-{r.Timing.P80Ms,-8:F3} {FusedKLBenchmark.FormatBytes(r.ScratchBytes),10} {FusedKLBenchmark.FormatBytes(r.InputBytes + r.OutputBytes),10}  {r.Loss:G4}{(double.IsFinite(r.Loss) ? "" : " NOT FINITE")}"));
        }
        return text.ToString();
    }

    /// <summary>The CSV lines, header first.</summary>
    /// <param name="device">The device, in words.</param>
    /// <param name="results">The results.</param>
    /// <returns>Header and rows.</returns>
    public static IEnumerable<string> CsvLines(string device, IReadOnlyList<RelationResult> results)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(results);
        yield return CsvHeader;
        foreach (RelationResult r in results)
        {
            yield return string.Join(',', Quote(device), r.Case.Kernel, r.Case.Size, Number(r.Timing?.MedianMs),
                Number(r.Timing?.P20Ms), Number(r.Timing?.P80Ms), Number(r.Timing?.Samples), Number(r.Timing?.CallsPerSample),
                Number(r.InputBytes), Number(r.OutputBytes), Number(r.ScratchBytes), Number(r.Loss), Quote(r.Skipped ?? ""));
        }
    }

    /// <summary>Bytes the launcher of <paramref name="c"/> allocates per call besides inputs and outputs.</summary>
    /// <param name="c">The case.</param>
    /// <returns>Bytes.</returns>
    /// <remarks>Counted from the launchers' code: SP 3 B x B matrices; RKD distance 4 B x B and 3 B; RKD angle
    /// <see cref="RelationalAngleLauncher.ScratchBytes"/>; FSP two B x C2 x C1 flow matrices; AT three B x H x W maps.</remarks>
    public static long ScratchBytes(RelationCase c)
    {
        ArgumentNullException.ThrowIfNull(c);
        int[] d = c.Dimensions;
        long b = d[0];
        return c.Kernel switch
        {
            "sp" => sizeof(float) * 3 * b * b,
            "rkd-distance" => sizeof(float) * (4 * b * b + 3 * b),
            "rkd-angle" => RelationalAngleLauncher.ScratchBytes(d[0], d[1], d[1]),
            "fsp" => sizeof(float) * 2 * b * d[1] * d[2],
            "at-loss" => sizeof(float) * 3 * b * d[2] * d[3],
            _ => throw new ArgumentException($"'{c.Kernel}' is not a timed kernel; expected sp, rkd-distance, rkd-angle, fsp or at-loss.", nameof(c)),
        };
    }

    private static RelationResult Measure(ComputeDevice device, BenchLauncher fill, RelationCase c, DeviceTiming.Budget? budget)
    {
        Accelerator accelerator = device.Accelerator;
        int[] d = c.Dimensions;
        var buffers = new List<MemoryBuffer1D<float, Stride1D.Dense>>();
        try
        {
            ArrayView1D<float, Stride1D.Dense> Input(long length, ulong seed)
            {
                MemoryBuffer1D<float, Stride1D.Dense> buffer = accelerator.Allocate1D<float>(length);
                buffers.Add(buffer);
                fill.Uniform(buffer.View, seed, 1f);
                return buffer.View;
            }

            ArrayView1D<float, Stride1D.Dense> Output(long length)
            {
                MemoryBuffer1D<float, Stride1D.Dense> buffer = accelerator.Allocate1D<float>(length);
                buffers.Add(buffer);
                return buffer.View;
            }

            Action call;
            long inputs, outputs;
            ArrayView1D<float, Stride1D.Dense> rowLoss;
            switch (c.Kernel)
            {
                case "sp" or "rkd-distance" or "rkd-angle":
                {
                    (int batch, int width) = (d[0], d[1]);
                    var s = Input((long)batch * width, 21);
                    var t = Input((long)batch * width, 22);
                    var g = Output((long)batch * width);
                    rowLoss = Output(batch);
                    var r = rowLoss;
                    call = c.Kernel switch
                    {
                        "sp" => () => device.Kernels<SimilarityPreservingLauncher>().Run(s, t, g, r, batch, width, width),
                        "rkd-distance" => () => device.Kernels<RelationalDistanceLauncher>().Run(s, t, g, r, batch, width, width),
                        _ => () => device.Kernels<RelationalAngleLauncher>().Run(s, t, g, r, batch, width, width),
                    };
                    inputs = 2L * batch * width;
                    outputs = (long)batch * width + batch;
                    break;
                }
                case "fsp":
                {
                    (int batch, int c1, int c2, int area) = (d[0], d[1], d[2], d[3] * d[4]);
                    var sb = Input((long)batch * c1 * area, 31);
                    var st = Input((long)batch * c2 * area, 32);
                    var tb = Input((long)batch * c1 * area, 33);
                    var tt = Input((long)batch * c2 * area, 34);
                    var gb = Output(sb.Length);
                    var gt = Output(st.Length);
                    rowLoss = Output(batch);
                    var r = rowLoss;
                    call = () => device.Kernels<FlowMatrixLauncher>().Run(sb, st, tb, tt, gb, gt, r, batch, c1, c2, area, area);
                    inputs = 2 * (sb.Length + st.Length);
                    outputs = sb.Length + st.Length + batch;
                    break;
                }
                case "at-loss":
                {
                    (int batch, int channels, int positions) = (d[0], d[1], d[2] * d[3]);
                    var p = new AttentionTransferParameters(batch, channels, channels, positions, 2f, AttentionTransferForm.Code);
                    var s = Input((long)batch * channels * positions, 41);
                    var t = Input((long)batch * channels * positions, 42);
                    var studentSums = Output((long)batch * positions);
                    var teacherSums = Output((long)batch * positions);
                    var mapGradient = Output((long)batch * positions);
                    var g = Output(s.Length);
                    rowLoss = Output(batch);
                    var r = rowLoss;
                    AttentionTransferLauncher launcher = device.Kernels<AttentionTransferLauncher>();
                    call = () => launcher.LaunchLoss(s, t, studentSums, teacherSums, mapGradient, g, r, p);
                    inputs = 2 * s.Length;
                    outputs = s.Length + batch;
                    break;
                }
                default:
                    throw new ArgumentException($"'{c.Kernel}' is not a timed kernel; expected sp, rkd-distance, rkd-angle, fsp or at-loss.", nameof(c));
            }
            accelerator.Synchronize();
            DeviceTiming timing = DeviceTiming.Measure(call, accelerator.Synchronize, budget);
            double loss = rowLoss.GetAsArray1D().Sum(v => (double)v);
            return new RelationResult(c, timing, sizeof(float) * inputs, sizeof(float) * outputs, ScratchBytes(c), loss, null);
        }
        finally
        {
            foreach (MemoryBuffer1D<float, Stride1D.Dense> buffer in buffers) buffer.Dispose();
        }
    }

    private static string Describe(RelationResult r) => r.Timing is null
        ? $"  {r.Case.Kernel,-13} {r.Case.Size,-16} skipped: {r.Skipped}"
        : string.Create(CultureInfo.InvariantCulture,
            $"  {r.Case.Kernel,-13} {r.Case.Size,-16} {r.Timing.MedianMs,9:F3} ms  scratch {FusedKLBenchmark.FormatBytes(r.ScratchBytes)}  loss {r.Loss:G4}");

    private static string Number(double? value) =>
        value is double v && double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
        ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
        : value;
}
