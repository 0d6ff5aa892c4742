using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using ILGPU.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Fused softened-softmax KL at T = 4 on every backend against the TorchSharp composite (log_softmax + kl_div +
/// backward) and the streaming floor, in the modes forward, backward and forward+backward through the autograd
/// bridge (copies between tensors and device buffers included), and the kernel alone on device buffers, and the
/// copies alone where a backend makes them.
/// </summary>
internal static class SoftmaxKLBenchmark
{
    public const string Kernel = "softmax-kl";
    public const double Temperature = 4.0;

    /// <summary>The sizes of the full run; --quick leaves out the largest.</summary>
    public static readonly (int Rows, int Classes)[] Sizes = [(256, 10), (4096, 1000), (256, 32000), (64, 128256)];

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        foreach ((int rows, int classes) in settings.Quick ? Sizes[..3] : Sizes)
        {
            foreach (ResultRow row in RunSize(settings, rows, classes)) yield return row;
        }
    }

    private static IEnumerable<ResultRow> RunSize(BenchmarkSettings settings, int rows, int classes)
    {
        var random = new Random(1);
        float[] s = new float[(long)rows * classes], t = new float[s.Length], g = new float[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            s[i] = (float)(random.NextDouble() * 10 - 5);
            t[i] = (float)(random.NextDouble() * 10 - 5);
        }
        string size = $"{rows}x{classes}";
        long n = s.Length * (long)sizeof(float);
        long threeArrays = 3 * n, twoArrays = 2 * n;
        double minSeconds = settings.MinSeconds;

        using var outer = NewDisposeScope();
        Tensor student = tensor(s, [rows, classes]).requires_grad_(true);
        Tensor teacher = tensor(t, [rows, classes]);

        // The fused backends: each ILGPU accelerator in both layouts and the host SIMD backend.
        var backends = new List<(string Name, ComputeDevice Device, RowLayout Layout)>();
        foreach ((string name, ComputeDevice device) in settings.Devices)
        {
            if (device.UsesHostSimd)
            {
                backends.Add((name, device, RowLayout.Auto));
                continue;
            }
            backends.Add(($"{name} {Describe(RowLayout.RowPerThread)}", device, RowLayout.RowPerThread));
            // The CPU simulator's group barriers make a group per row take seconds per call past small sizes
            // (14 s at 4096 x 1000, measured): it is timed where it finishes, not where it cannot.
            if (device.Kind != AcceleratorKind.Cpu || s.Length <= 100_000)
                backends.Add(($"{name} {Describe(RowLayout.RowPerGroup)}", device, RowLayout.RowPerGroup));
        }
        Func<Tensor> Fused((string Name, ComputeDevice Device, RowLayout Layout) b) =>
            () => GpuDistill.Losses.SoftmaxKL(student, teacher, Temperature, device: b.Device, layout: b.Layout);

        // The floor, the composite and every backend's fwd+bwd (the figures the goals compare) in interleaved rounds, so a
        // shared machine's changing load falls on all of them alike; the simulator's group layout (hundreds of ms per
        // call) is timed on its own.
        bool Slow((string Name, ComputeDevice Device, RowLayout Layout) b) =>
            b.Device.Kind == AcceleratorKind.Cpu && b.Layout == RowLayout.RowPerGroup;
        var interleaved = backends.Where(b => !Slow(b)).ToList();
        var actions = new List<Action> { () => StreamingFloor.Run(s, t, g), FwdBwd(student, () => Composite(student, teacher, rows)) };
        actions.AddRange(interleaved.Select(b => FwdBwd(student, Fused(b))));
        Timing[] together = Timing.MeasureInterleaved(actions, warmup: 3, minRounds: 10, maxRounds: 200,
            maxSeconds: minSeconds * actions.Count);
        Timing floor = together[0];
        var fwdBwd = new Dictionary<string, Timing> { ["torchsharp-composite"] = together[1] };
        for (int i = 0; i < interleaved.Count; i++) fwdBwd[interleaved[i].Name] = together[i + 2];
        yield return new ResultRow(Kernel, "streaming-floor", size, "read 2 + write 1", floor, threeArrays, double.NaN, floor.MedianMs);

        // Every implementation that returns a new [B, C] tensor (a gradient, a product) pays this on top of its arithmetic:
        // libtorch allocates it afresh (past 32 MB glibc maps new pages every time) and the first write faults them in.
        Timing allocation = Timing.Measure(() =>
        {
            using var step = NewDisposeScope();
            zeros(rows, classes);
        }, minSeconds: minSeconds);
        yield return new ResultRow(Kernel, "libtorch new tensor", size, "allocate + first write", allocation, n, double.NaN, floor.MedianMs);

        Dictionary<string, Timing> composite = TimeModes(student, () => Composite(student, teacher, rows), minSeconds, fwdBwd["torchsharp-composite"]);
        foreach ((string mode, Timing timing) in composite)
            yield return new ResultRow(Kernel, "torchsharp-composite", size, mode, timing, BytesOf(mode, threeArrays, twoArrays),
                timing.MedianMs, floor.MedianMs);

        foreach ((string Name, ComputeDevice Device, RowLayout Layout) b in backends)
        {
            Dictionary<string, Timing> fused = TimeModes(student, Fused(b), minSeconds, fwdBwd.GetValueOrDefault(b.Name));
            foreach ((string mode, Timing timing) in fused)
                yield return new ResultRow(Kernel, b.Name, size, mode + (b.Device.SharesHostMemory ? "" : ", copies incl."), timing,
                    BytesOf(mode, threeArrays, twoArrays), composite[mode].MedianMs, floor.MedianMs);

            Timing kernelOnly = b.Device.UsesHostSimd
                ? Timing.Measure(() => HostSimdRowLoss.Run<HostSoftmaxKL, SoftmaxKLRow>(s, t, [], g, new float[rows],
                    new SoftmaxKLRow(rows, classes, (float)Temperature, 1f, 0f, false, -100, rows)), minSeconds: minSeconds)
                : TimeLaunch(b.Device, s, t, rows, classes, b.Layout, minSeconds);
            yield return new ResultRow(Kernel, b.Name, size, "kernel only", kernelOnly, threeArrays, double.NaN, floor.MedianMs);
        }
        foreach ((string name, ComputeDevice device) in settings.Devices.Where(d => !d.Device.SharesHostMemory))
        {
            Timing copies = TimeCopies(device, s, t, g, minSeconds);
            yield return new ResultRow(Kernel, name, size, "copies (s, t up; gradient down)", copies, threeArrays, double.NaN, floor.MedianMs);
        }
    }

    /// <summary>One loss call and its backward, from a clean gradient.</summary>
    private static Action FwdBwd(Tensor student, Func<Tensor> forward) => () =>
    {
        using var step = NewDisposeScope();
        student.grad = null;
        forward().backward();
    };

    /// <summary>
    /// forward, backward (the forward before it untimed) and fwd+bwd (<paramref name="fwdBwd"/> when already timed) of a
    /// loss of <paramref name="student"/>.
    /// </summary>
    private static Dictionary<string, Timing> TimeModes(Tensor student, Func<Tensor> forward, double minSeconds, Timing? fwdBwd)
    {
        var result = new Dictionary<string, Timing>();
        result["forward"] = Timing.Measure(() =>
        {
            using var step = NewDisposeScope();
            forward();
        }, minSeconds: minSeconds);

        DisposeScope? scope = null;
        Tensor? loss = null;
        result["backward"] = Timing.Measure(() =>
        {
            scope?.Dispose();
            student.grad = null;
            scope = NewDisposeScope();
            loss = forward();
        }, () => loss!.backward(), minSeconds: minSeconds);
        scope?.Dispose();

        result["fwd+bwd"] = fwdBwd ?? Timing.Measure(FwdBwd(student, forward), minSeconds: minSeconds);
        student.grad = null;
        return result;
    }

    private static Tensor Composite(Tensor student, Tensor teacher, int rows) =>
        nn.functional.kl_div(
            nn.functional.log_softmax(student / Temperature, 1),
            nn.functional.log_softmax(teacher / Temperature, 1),
            reduction: nn.Reduction.Sum, log_target: true) / rows * (Temperature * Temperature);

    /// <summary>The launch alone, on device buffers filled once (no tensors, no copies).</summary>
    private static Timing TimeLaunch(ComputeDevice device, float[] s, float[] t, int rows, int classes, RowLayout layout,
        double minSeconds)
    {
        Accelerator accelerator = device.Accelerator;
        using var ds = accelerator.Allocate1D(s);
        using var dt = accelerator.Allocate1D(t);
        using var dg = accelerator.Allocate1D<float>(s.Length);
        using var dr = accelerator.Allocate1D<float>(rows);
        var p = new SoftmaxKLRow(rows, classes, (float)Temperature, 1f, 0f, false, -100, rows);
        RowLossLauncher<SoftmaxKLRow> launcher = device.Kernels<RowLossLauncher<SoftmaxKLRow>>();
        return Timing.Measure(() =>
        {
            launcher.Launch(ds.View, dt.View, default, dg.View, dr.View, p, layout);
            accelerator.Synchronize();
        }, minSeconds: minSeconds);
    }

    /// <summary>What the bridge copies on a device that does not share host memory: both inputs up, the gradient down.</summary>
    private static Timing TimeCopies(ComputeDevice device, float[] s, float[] t, float[] g, double minSeconds)
    {
        Accelerator accelerator = device.Accelerator;
        using var ds = accelerator.Allocate1D<float>(s.Length);
        using var dt = accelerator.Allocate1D<float>(t.Length);
        using var dg = accelerator.Allocate1D<float>(g.Length);
        return Timing.Measure(() =>
        {
            ds.View.CopyFromCPU(s);
            dt.View.CopyFromCPU(t);
            dg.View.CopyToCPU(g);
            accelerator.Synchronize();
        }, minSeconds: minSeconds);
    }

    private static long BytesOf(string mode, long threeArrays, long twoArrays) =>
        mode == "backward" ? twoArrays : threeArrays;

    private static string Describe(RowLayout layout) => layout == RowLayout.RowPerThread ? "row/thread" : "row/group";
}
