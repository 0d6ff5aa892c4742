using System.Globalization;
using GpuDistill.Compute;
using ILGPU.Runtime.Cuda;

namespace GpuDistill.GpuBench;

/// <summary>The two modes of the bundle, as the command line runs them.</summary>
public static class BundleRun
{
    /// <summary>Exit code: every result matched the reference.</summary>
    public const int Success = 0;

    /// <summary>Exit code: a result did not match the reference.</summary>
    public const int Mismatch = 1;

    /// <summary>Exit code: no CUDA device where one is needed.</summary>
    public const int NoCuda = 3;

    /// <summary>The kernel checks on the CPU accelerator and, unless <c>--device cpu</c>, on CUDA when present.</summary>
    /// <param name="options">The command line.</param>
    /// <param name="log">Where the report goes.</param>
    /// <returns>The exit code.</returns>
    public static int SelfCheckOnly(BenchOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        IReadOnlyList<DeviceInfo> present = ComputeDevice.ListDevices();
        bool cudaPresent = present.Any(d => d.Kind == AcceleratorKind.Cuda);
        List<AcceleratorKind> kinds = options.Device switch
        {
            AcceleratorKind.Cpu => [AcceleratorKind.Cpu],
            AcceleratorKind.Cuda when !cudaPresent => [],
            AcceleratorKind.Cuda => [AcceleratorKind.Cuda],
            _ => cudaPresent ? [AcceleratorKind.Cpu, AcceleratorKind.Cuda] : [AcceleratorKind.Cpu],
        };
        if (kinds.Count == 0) return ReportNoCuda(present, log);
        if (options.Device is null && !cudaPresent) log.WriteLine($"no CUDA device ({Describe(present)}): CPU accelerator only");

        bool passed = true;
        foreach (AcceleratorKind kind in kinds)
        {
            using ComputeDevice device = ComputeDevice.Open(kind);
            passed &= SelfCheck.Run(device, options.Seed, log, options.Includes).All(r => r.Passed);
        }
        return passed ? Success : Mismatch;
    }

    /// <summary>
    /// The kernel checks on the device, copy bandwidth, the fused KL sweep, the relation and attention-transfer
    /// timings; tables on the log, CSVs (checks.csv, gpu-bench.csv, relations.csv) in the output folder.
    /// </summary>
    /// <param name="options">The command line.</param>
    /// <param name="log">Where the report goes.</param>
    /// <returns>The exit code.</returns>
    public static int Benchmark(BenchOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        AcceleratorKind kind = options.Device ?? AcceleratorKind.Cuda;
        IReadOnlyList<DeviceInfo> present = ComputeDevice.ListDevices();
        if (!present.Any(d => d.Kind == kind)) return ReportNoCuda(present, log);

        using ComputeDevice device = ComputeDevice.Open(kind);
        string description = DescribeDevice(device);
        log.WriteLine($"device: {description}");
        Directory.CreateDirectory(options.OutputDirectory);
        IReadOnlyList<KernelCheckResult> checks;
        string checksCsv = Path.Combine(options.OutputDirectory, "checks.csv");
        using (var csv = new StreamWriter(checksCsv))
        {
            // Row by row, so the rows before a kernel that never returns are kept when the process ends there.
            csv.WriteLine(KernelCheckResult.CsvHeader);
            checks = SelfCheck.Run(device, options.Seed, log, options.Includes, r =>
            {
                csv.WriteLine(r.CsvLine());
                csv.Flush();
            });
        }
        if (checks.Count > 0) log.WriteLine($"wrote {checksCsv}");
        else File.Delete(checksCsv);
        bool passed = checks.All(r => r.Passed);
        if (options.ChecksOnly) return passed ? Success : Mismatch;
        if (!passed) log.WriteLine("a kernel check FAILED: the timings below include a kernel that does not match its reference");

        DeviceTiming.Budget? budget = options.Quick
            ? new DeviceTiming.Budget(MinSamples: 3, MaxSamples: 5, MinSeconds: 0, MaxSeconds: 0.5, MinSampleMs: 1)
            : null;
        // run.sh's whole run stays within 5 minutes on an H100: the sweep gets 150 s, the relations 60 s.
        var settings = new BenchSettings(options.Sizes, options.CopyBytes, budget, TimeLimitSeconds: 150);
        CopyBandwidth copy = FusedKLBenchmark.MeasureCopy(device, settings);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"copy bandwidth: {copy.GigabytesPerSecond:F0} GB/s ({copy.BytesPerCopy / 1e9:F2} GB copied, read + write counted)"));
        log.WriteLine("fused KL forward + backward (median per launch; floor = read 2 arrays, write 1):");
        IReadOnlyList<SizeResult> sizes = FusedKLBenchmark.Run(device, settings, log);
        var report = new BenchReport(description, copy, sizes);
        WriteCsv(options.OutputDirectory, "gpu-bench.csv", report.CsvLines(), log);
        passed &= sizes.All(s => s.Layouts.All(l => l.Check.Passed));

        IReadOnlyList<RelationResult> relations = [];
        if (options.Relations.Count > 0)
        {
            log.WriteLine("relation and attention-transfer timings (forward + backward per call):");
            relations = RelationBenchmark.Run(device, options.Relations, budget, log, timeLimitSeconds: 60);
            WriteCsv(options.OutputDirectory, "relations.csv", RelationBenchmark.CsvLines(description, relations), log);
            // A measured loss that is not finite is a wrong result; a skipped size is not.
            passed &= relations.All(r => r.Skipped is not null || double.IsFinite(r.Loss));
        }

        log.WriteLine();
        if (checks.Count > 0)
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"kernel checks: {checks.Count(c => c.Passed)} of {checks.Count} PASS{(checks.All(c => c.Passed) ? "" : " (FAILED: " + string.Join("; ", checks.Where(c => !c.Passed).Select(c => c.Check.ToString())) + ")")}"));
        log.Write(report.Table());
        if (relations.Count > 0) log.Write(RelationBenchmark.Table(relations));
        return passed ? Success : Mismatch;
    }

    private static void WriteCsv(string folder, string name, IEnumerable<string> lines, TextWriter log)
    {
        string path = Path.Combine(folder, name);
        File.WriteAllLines(path, lines);
        log.WriteLine($"wrote {path}");
    }

    /// <summary>The device in words: name, and for CUDA its multiprocessors, memory, architecture and driver.</summary>
    /// <param name="device">The device.</param>
    /// <returns>One line.</returns>
    public static string DescribeDevice(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device.Accelerator is not CudaAccelerator cuda) return device.ToString();
        // Double data rate: two transfers per memory clock, over the bus width in bytes.
        // (Newer drivers may report no memory clock; then there is no figure to show.)
        double peak = 2.0 * cuda.MemoryClockRate * 1e6 * cuda.MemoryBusWidth / 8 / 1e9;
        string peakText = peak > 0 ? peak.ToString("F0", CultureInfo.InvariantCulture) + " GB/s" : "not reported";
        return string.Create(CultureInfo.InvariantCulture,
            $"{cuda.Name}, {cuda.NumMultiprocessors} SMs, {cuda.MemorySize / 1e9:F1} GB, {cuda.Architecture}, PTX {cuda.InstructionSet}, driver {cuda.DriverVersion}, theoretical memory bandwidth {peakText}");
    }

    private static int ReportNoCuda(IReadOnlyList<DeviceInfo> present, TextWriter log)
    {
        log.WriteLine($"No CUDA device found (ILGPU sees: {Describe(present)}). The benchmark needs an NVIDIA GPU and its driver " +
            "(libcuda.so.1); 'run.sh --self-check' checks every kernel on the CPU without one.");
        return NoCuda;
    }

    private static string Describe(IEnumerable<DeviceInfo> devices) =>
        string.Join(", ", devices.Select(d => $"{d.Kind} '{d.Name}'"));
}
