using GpuDistill.Compute;
using GpuDistill.Diagnostics;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Linear CKA of one feature pair: the fused kernels (<c>LinearCkaLauncher</c>, on each ILGPU accelerator) against the
/// libtorch composite (<see cref="CkaComposite"/>, GEMMs), both through <see cref="RepresentationSimilarity.LinearCka"/>.
/// The measurement behind the routing: a host <c>simd</c> device takes the composite.
/// </summary>
/// <remarks>
/// Sizes: a small pair, and the diagnose command's real pair of the small CNN's stage1 against the teacher's stage1
/// (n = 2,000 images, 1,568 and 6,272 features). The kernel forms n^2 (p1 + p2) products; ILGPU's CPU accelerator
/// (one simulated thread per run of Gram entries) took 2 s at the small size, so the large one (about 300 times the
/// work, some ten minutes) is left out there; GPUs time both. The composite's large call takes seconds and is timed
/// once. Bytes are the two feature matrices read once.
/// </remarks>
internal static class CkaBenchmark
{
    public const string Kernel = "cka";

    private static readonly (int Rows, int WidthX, int WidthY)[] Sizes = [(256, 1024, 512), (2000, 1568, 6272)];

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        ComputeDevice simd = settings.Devices.First(d => d.Device.UsesHostSimd).Device;
        foreach ((int rows, int widthX, int widthY) in Sizes)
        {
            string size = $"n{rows} {widthX}x{widthY}";
            long bytes = (long)rows * (widthX + widthY) * sizeof(float);
            using var scope = NewDisposeScope();
            var generator = new Generator(1);
            Tensor x = randn([rows, widthX], generator: generator).relu();
            Tensor y = randn([rows, widthY], generator: generator);
            bool large = rows > 256;

            Timing composite = Time(() => RepresentationSimilarity.LinearCka(x, y, simd), settings, once: large);
            yield return new ResultRow(Kernel, "torchsharp-composite (simd route)", size, "forward", composite, bytes, composite.MedianMs);
            foreach ((string name, ComputeDevice device) in settings.Devices.Where(d => !d.Device.UsesHostSimd))
            {
                bool cpuSimulator = device.Kind == AcceleratorKind.Cpu;
                if (cpuSimulator && large) continue;
                Timing fused = Time(() => RepresentationSimilarity.LinearCka(x, y, device), settings, once: false);
                yield return new ResultRow(Kernel, name, size, "forward (fused kernels)", fused, bytes, composite.MedianMs);
            }
        }
    }

    /// <summary>Repeated timing, or one untimed-warm-up-free call where a call takes seconds to minutes.</summary>
    private static Timing Time(Action action, BenchmarkSettings settings, bool once)
    {
        if (!once) return Timing.Measure(action, warmup: 1, minRepeats: 3, minSeconds: settings.MinSeconds);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        action();
        double ms = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return new Timing(ms, ms, ms, 1);
    }
}
