using System.Diagnostics;
using System.Globalization;
using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.GpuBench;

/// <summary>One check of the coverage pass: a kernel family, a shape with its settings, and how to run it.</summary>
/// <param name="Kernel">The kernel family, e.g. "softmax-kl" or "rkd-angle".</param>
/// <param name="Case">Shape and settings, e.g. "41x1271 T=2 labels |z|<=1e4 row/group".</param>
/// <param name="Small">True when it takes milliseconds on the CPU accelerator (the unit tests run only these).</param>
/// <param name="Run">Launches on the device with fresh inputs from the random source and compares with the reference.</param>
public sealed record KernelCheck(string Kernel, string Case, bool Small, Func<ComputeDevice, Random, Comparison> Run)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Kernel} {Case}";
}

/// <summary>The outcome of one check on one device.</summary>
/// <param name="Device">"cpu" or "cuda".</param>
/// <param name="Check">What ran.</param>
/// <param name="Seed">Seed of its inputs (<c>--seed</c> of the pass plus the check's index).</param>
/// <param name="Comparison">Errors and bounds; null when the launch threw.</param>
/// <param name="Error">The exception's type and message when the launch threw.</param>
/// <param name="Milliseconds">Wall time of the check, reference included.</param>
public sealed record KernelCheckResult(string Device, KernelCheck Check, int Seed, Comparison? Comparison, string? Error,
    double Milliseconds)
{
    /// <summary>The CSV header of <see cref="CsvLine"/>.</summary>
    public const string CsvHeader = "device,kernel,case,seed,output,output_abs_err,output_rel_err,grad_abs_err,grad_rel_err,bound,result,ms,error";

    /// <summary>True when the launch ran and both errors are within their bounds.</summary>
    public bool Passed => Comparison?.Passed ?? false;

    /// <summary>One CSV row.</summary>
    /// <returns>The row.</returns>
    public string CsvLine()
    {
        static string N(double? v) => v is double d ? d.ToString("G4", CultureInfo.InvariantCulture) : "";
        return string.Join(',', Device, Check.Kernel, Quote(Check.Case), Seed.ToString(CultureInfo.InvariantCulture),
            Comparison?.OutputName ?? "", N(Comparison?.Output.MaxAbs), N(Comparison?.Output.Relative),
            N(Comparison?.Gradient.MaxAbs), N(Comparison?.Gradient.Relative), N(Comparison?.Output.Bound),
            Passed ? "PASS" : "FAIL", N(Milliseconds), Quote(Error ?? ""));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"  {Device,-4} {Check.Kernel,-15} {Check.Case,-44} {(Comparison is null ? $"FAIL (threw {Error})" : Comparison.ToString())}";

    private static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
        ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
        : value;
}

/// <summary>
/// The bundle's correctness pass over every kernel family of GpuDistill.Kernels (<see cref="KernelChecks"/>): each
/// launcher on the device, on fresh random inputs, against the test suite's float64 reference (linked source files).
/// </summary>
public static class SelfCheck
{
    /// <summary>Label value of padding rows, as the library's default.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>
    /// How long one check may take (the slowest, reference included, takes seconds) before the pass takes its kernel
    /// for one that never returns: a device stuck in a kernel cannot run anything else, so the process then ends.
    /// </summary>
    public static readonly TimeSpan HangTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Runs the checks <paramref name="include"/> keeps (all by default) on <paramref name="device"/>, one line each on
    /// <paramref name="log"/>, then a summary per family.
    /// </summary>
    /// <param name="device">The device to launch on.</param>
    /// <param name="seed">Seed of the pass; check i draws its inputs from seed + i, so one check can be replayed.</param>
    /// <param name="log">Where the lines go.</param>
    /// <param name="include">Which checks to run (e.g. only the small ones); null for all.</param>
    /// <param name="onResult">Called with each result as it comes (run.sh's CSV keeps the results of a pass that
    /// a hung kernel ends); null for none.</param>
    /// <returns>One result per check run.</returns>
    /// <remarks>
    /// A check that runs past <see cref="HangTimeout"/> gets a FAIL line on <paramref name="log"/>, and the process
    /// exits with <see cref="BundleRun.Mismatch"/>: the device cannot run anything else.
    /// </remarks>
    public static IReadOnlyList<KernelCheckResult> Run(ComputeDevice device, int seed, TextWriter log,
        Func<KernelCheck, bool>? include = null, Action<KernelCheckResult>? onResult = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(log);
        string name = device.Kind.ToString().ToLowerInvariant();
        log.WriteLine($"kernel checks on {device} (seed {seed.ToString(CultureInfo.InvariantCulture)}): float32 kernels against the float64 references, " +
            $"max abs and relative error of the loss (or map) and of the gradient; PASS when both relative errors are <= {Comparison.Relative:0E+00}");
        var results = new List<KernelCheckResult>();
        for (int i = 0; i < KernelChecks.All.Count; i++)
        {
            KernelCheck check = KernelChecks.All[i];
            if (include is not null && !include(check)) continue;
            int checkSeed = unchecked(seed + i);
            string hungLine = $"  {name,-4} {check.Kernel,-15} {check.Case,-44} FAIL: did not finish within {HangTimeout.TotalSeconds:F0} s " +
                $"(a kernel that never returns; seed {checkSeed.ToString(CultureInfo.InvariantCulture)}); the device is stuck, stopping";
            using var watchdog = new Timer(_ =>
            {
                log.WriteLine(hungLine);
                log.Flush();
                Environment.Exit(BundleRun.Mismatch);
            }, null, HangTimeout, Timeout.InfiniteTimeSpan);
            KernelCheckResult result = RunOne(device, name, check, checkSeed);
            log.WriteLine(result);
            results.Add(result);
            onResult?.Invoke(result);
        }
        foreach (IGrouping<string, KernelCheckResult> family in results.GroupBy(r => r.Check.Kernel))
        {
            int failed = family.Count(r => !r.Passed);
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-4} {family.Key,-15} {family.Count(),3} checks  {(failed == 0 ? "all PASS" : $"{failed} FAIL")}  worst loss/map rel {family.Max(r => r.Comparison?.Output.Relative ?? double.NaN):0.0E+00}, grad rel {family.Max(r => r.Comparison?.Gradient.Relative ?? double.NaN):0.0E+00}"));
        }
        int total = results.Count(r => !r.Passed);
        log.WriteLine(total == 0 ? $"kernel checks on {name}: all {results.Count} PASS"
            : $"kernel checks on {name}: {total} of {results.Count} FAIL");
        return results;
    }

    /// <summary>Runs one check with inputs from <paramref name="seed"/>; a launch that throws is a failure, not a crash.</summary>
    /// <param name="device">The device.</param>
    /// <param name="deviceName">Its short name.</param>
    /// <param name="check">The check.</param>
    /// <param name="seed">Seed of its inputs.</param>
    /// <returns>The result.</returns>
    public static KernelCheckResult RunOne(ComputeDevice device, string deviceName, KernelCheck check, int seed)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(check);
        long start = Stopwatch.GetTimestamp();
        try
        {
            Comparison comparison = check.Run(device, new Random(seed));
            return new KernelCheckResult(deviceName, check, seed, comparison, null, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device error in one kernel must not hide the results of the others.
            return new KernelCheckResult(deviceName, check, seed, null, $"{e.GetType().Name}: {e.Message}",
                Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }
}

/// <summary>The two concrete kernel layouts and their short names.</summary>
public static class Layouts
{
    /// <summary>Both concrete layouts, thread per row first.</summary>
    public static IReadOnlyList<RowLayout> All { get; } = [RowLayout.RowPerThread, RowLayout.RowPerGroup];

    /// <summary>"row/thread" or "row/group".</summary>
    /// <param name="layout">A concrete layout.</param>
    /// <returns>The short name.</returns>
    public static string Name(RowLayout layout) => layout switch
    {
        RowLayout.RowPerThread => "row/thread",
        RowLayout.RowPerGroup => "row/group",
        _ => "auto",
    };
}
