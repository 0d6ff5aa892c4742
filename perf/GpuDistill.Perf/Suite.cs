using System.Globalization;
using System.Runtime.InteropServices;

namespace GpuDistill.Perf;

/// <summary>The benchmarks the suite runs, in order, and the machine description every result carries.</summary>
internal static class Suite
{
    /// <summary>
    /// Every benchmark, by the name --only selects. The extension point: a new benchmark is one static method
    /// <c>IEnumerable&lt;ResultRow&gt; Run(BenchmarkSettings)</c> and one line here.
    /// </summary>
    public static IReadOnlyList<(string Name, Func<BenchmarkSettings, IEnumerable<ResultRow>> Run)> Benchmarks { get; } =
    [
        (SoftmaxKLBenchmark.Kernel, SoftmaxKLBenchmark.Run),
        (RowLossBenchmark.Kernel, RowLossBenchmark.Run),
        (TrainingStepBenchmark.Kernel, TrainingStepBenchmark.Run),
        (MethodStepBenchmark.Kernel, MethodStepBenchmark.Run),
        (TrainingStepBenchmark.PyTorchKernel, TrainingStepBenchmark.AgainstPyTorch),
        (MultiTeacherBenchmark.Kernel, MultiTeacherBenchmark.Run),
        (CkaBenchmark.Kernel, CkaBenchmark.Run),
        (FakeQuantizeBenchmark.Kernel, FakeQuantizeBenchmark.Run),
        // Attention maps run on ILGPU accelerators only (the simd device would run them on its CPU accelerator again).
        ("attention-transfer", s => AttentionTransferBenchmark.Run([.. s.Devices.Where(d => !d.Device.UsesHostSimd)], s.Quick)),
        // Full runs only: FSP alone takes ~15 s per call on the CPU simulator, more than --quick's whole budget.
        ("relations", s => s.Quick ? [] : RelationBenchmarks.Run(quick: false)),
    ];

    /// <summary>CPU model, cores, OS and runtime, e.g. for the CSV's machine column.</summary>
    public static string DescribeMachine()
    {
        string cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line is not null) cpu = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        // The load average says how much other work shared the machine when the run started (it is shared here).
        string load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
        return string.Create(CultureInfo.InvariantCulture,
            $"{cpu}, {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, .NET {Environment.Version}, load average at start {load}");
    }
}
