using GpuDistill.Compute;

namespace GpuDistill.Perf;

/// <summary>
/// What every benchmark of the suite gets. A benchmark is a method <c>IEnumerable&lt;ResultRow&gt; Run(BenchmarkSettings)</c>
/// listed in <see cref="Suite.Benchmarks"/>; it picks its own sizes (<see cref="Quick"/> for fewer) and times every
/// backend in <see cref="Devices"/>, the TorchSharp composite and the streaming floor.
/// </summary>
/// <param name="Devices">Every backend to time: each ILGPU accelerator present and the host SIMD backend, by name.</param>
/// <param name="Quick">Fewer sizes and shorter timing (the suite's --quick).</param>
internal sealed record BenchmarkSettings(IReadOnlyList<(string Name, ComputeDevice Device)> Devices, bool Quick)
{
    /// <summary>The methods the method-step benchmark times (--methods a,b; its baseline none always runs); null for all.</summary>
    public IReadOnlySet<string>? Methods { get; init; }

    /// <summary>The least time spent timing one line (after warm-up).</summary>
    public double MinSeconds => Quick ? 0.2 : 1.0;
}
