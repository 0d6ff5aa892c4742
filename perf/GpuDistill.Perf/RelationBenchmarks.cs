using System.Globalization;
using GpuDistill.Accelerators;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// The relation kernels (SP, RKD distance and angle, FSP) against the same math written as TorchSharp composites,
/// forward alone and forward + backward, with the peak resident memory each adds. The fused forward already
/// computes the gradient (its backward only scales it), so its two rows differ by the backward's multiply.
/// </summary>
/// <remarks>
/// Peak memory is the rise of the process's resident high-water mark (Linux VmHWM, reset through
/// /proc/self/clear_refs) over its resident size before one call, so it counts every intermediate of that call,
/// libtorch's and the accelerator's alike (on the CPU accelerator scratch buffers are host memory); -1 elsewhere.
/// </remarks>
internal static class RelationBenchmarks
{
    /// <summary>Runs every size once per accelerator the default device names (the CPU simulator here).</summary>
    /// <param name="quick">Fewer repeats, and SP at B = 1024 left out (tens of seconds per call on the CPU simulator).</param>
    /// <returns>Composite and fused rows per loss, size and mode.</returns>
    public static IEnumerable<ResultRow> Run(bool quick)
    {
        ComputeDevice device = ComputeDevice.Default;
        // The relation kernels run on the ILGPU accelerator, also on a simd device (whose host backend covers row losses).
        string backend = $"gpudistill {(device.UsesHostSimd ? AcceleratorKind.Cpu : device.Kind)}";
        foreach (int batch in quick ? new[] { 128 } : [128, 1024])
        {
            foreach (ResultRow row in Measure("sp", backend, $"B{batch} D4096", quick,
                         random => [Uniform(random, batch, 4096), Uniform(random, batch, 4096)],
                         inputs => SimilarityPreservingComposite(inputs[0], inputs[1]),
                         inputs => Losses.SimilarityPreserving(inputs[0], inputs[1], device)))
                yield return row;
        }
        foreach (int batch in new[] { 64, 256 })
        {
            foreach (ResultRow row in Measure("rkd-distance", backend, $"B{batch} D512", quick,
                         random => [Uniform(random, batch, 512), Uniform(random, batch, 512)],
                         inputs => DistanceComposite(inputs[0], inputs[1]),
                         inputs => Losses.RelationalDistance(inputs[0], inputs[1], device)))
                yield return row;
            foreach (ResultRow row in Measure("rkd-angle", backend, $"B{batch} D512", quick,
                         random => [Uniform(random, batch, 512), Uniform(random, batch, 512)],
                         inputs => AngleComposite(inputs[0], inputs[1]),
                         inputs => Losses.RelationalAngle(inputs[0], inputs[1], device)))
                yield return row;
        }
        foreach (ResultRow row in Measure("fsp", backend, "B64 C64x128 16x16", quick,
                     random => [Uniform(random, 64, 64, 16, 16), Uniform(random, 64, 128, 16, 16),
                                Uniform(random, 64, 64, 16, 16), Uniform(random, 64, 128, 16, 16)],
                     inputs => FlowComposite(inputs[0], inputs[1], inputs[2], inputs[3]),
                     inputs => Losses.FlowMatrix(inputs[0], inputs[1], inputs[2], inputs[3], device),
                     students: 2))
            yield return row;
    }

    private static IEnumerable<ResultRow> Measure(string kernel, string backend, string size, bool quick,
        Func<Random, Tensor[]> create, Func<Tensor[], Tensor> composite, Func<Tensor[], Tensor> fused, int students = 1)
    {
        using var scope = NewDisposeScope();
        Tensor[] inputs = create(new Random(1));
        for (int i = 0; i < students; i++) inputs[i].requires_grad_(true);
        long bytes = inputs.Sum(t => t.numel()) * sizeof(float) + inputs.Take(students).Sum(t => t.numel()) * sizeof(float);

        Timing compositeForward = Time(() => { using (no_grad()) composite(inputs).Dispose(); });
        long compositeForwardPeak = Peak(() => { using (no_grad()) composite(inputs).Dispose(); });
        Timing compositeFull = Time(() => Backward(composite(inputs)));
        long compositeFullPeak = Peak(() => Backward(composite(inputs)));
        Timing fusedForward = Time(() => fused(inputs).Dispose());
        long fusedForwardPeak = Peak(() => fused(inputs).Dispose());
        Timing fusedFull = Time(() => Backward(fused(inputs)));
        long fusedFullPeak = Peak(() => Backward(fused(inputs)));

        yield return new ResultRow(kernel, "torchsharp-composite", size, Mode("fwd", compositeForwardPeak), compositeForward, bytes, compositeForward.MedianMs);
        yield return new ResultRow(kernel, "torchsharp-composite", size, Mode("fwd+bwd", compositeFullPeak), compositeFull, bytes, compositeFull.MedianMs);
        yield return new ResultRow(kernel, backend, size, Mode("fwd (gradient incl.)", fusedForwardPeak), fusedForward, bytes, compositeForward.MedianMs);
        yield return new ResultRow(kernel, backend, size, Mode("fwd+bwd", fusedFullPeak), fusedFull, bytes, compositeFull.MedianMs);

        void Backward(Tensor loss)
        {
            using var step = NewDisposeScope();
            for (int i = 0; i < students; i++) inputs[i].grad = null;
            loss.backward();
        }

        Timing Time(Action action) =>
            quick ? Timing.Measure(action, warmup: 1, minRepeats: 3, minSeconds: 0) : Timing.Measure(action, minRepeats: 5, minSeconds: 1);
    }

    private static string Mode(string mode, long peakBytes) =>
        peakBytes < 0 ? mode : string.Create(CultureInfo.InvariantCulture, $"{mode}, peak +{peakBytes / 1048576.0:F1} MiB");

    /// <summary>The rise of the resident high-water mark during one call, in bytes (-1 where /proc is absent).</summary>
    private static long Peak(Action action)
    {
        if (!File.Exists("/proc/self/clear_refs")) return -1;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // Writing 5 resets VmHWM to the current resident size (Linux 4.0 and later).
        File.WriteAllText("/proc/self/clear_refs", "5");
        long before = Status("VmRSS:");
        action();
        return Math.Max(0, Status("VmHWM:") - before);
    }

    private static long Status(string key)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(key, StringComparison.Ordinal))
                return long.Parse(line[key.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        return -1;
    }

    private static Tensor Uniform(Random random, params long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return tensor(values, shape);
    }

    // The composites follow RepDistiller's code: Gram matrices by matmul, distances through |e|^2 + |e|^2 - 2 e.e,
    // angles as the B x B x D difference tensor normalised and multiplied into B x B x B.

    private static Tensor SimilarityPreservingComposite(Tensor student, Tensor teacher)
    {
        long b = student.shape[0];
        Tensor gs = nn.functional.normalize(student.matmul(student.t()), 2, 1, 1e-12);
        Tensor gt = nn.functional.normalize(teacher.matmul(teacher.t()), 2, 1, 1e-12);
        return (gt - gs).pow(2).sum() / (b * b);
    }

    private static Tensor DistanceComposite(Tensor student, Tensor teacher)
    {
        Tensor ds = Distances(student), dt = Distances(teacher.detach());
        return nn.functional.smooth_l1_loss(ds / ds.masked_select(ds.gt(0)).mean(), dt / dt.masked_select(dt.gt(0)).mean());
    }

    private static Tensor Distances(Tensor e)
    {
        Tensor square = e.pow(2).sum(1);
        Tensor d = (square.unsqueeze(1) + square.unsqueeze(0) - 2 * e.matmul(e.t())).clamp_min(1e-12).sqrt();
        return d * (1 - eye(e.shape[0]));
    }

    private static Tensor AngleComposite(Tensor student, Tensor teacher) =>
        nn.functional.smooth_l1_loss(Angles(student), Angles(teacher.detach()));

    private static Tensor Angles(Tensor e)
    {
        Tensor u = nn.functional.normalize(e.unsqueeze(0) - e.unsqueeze(1), 2, 2, 1e-12);
        return u.bmm(u.transpose(1, 2));
    }

    private static Tensor FlowComposite(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop) =>
        (Flow(studentBottom, studentTop) - Flow(teacherBottom, teacherTop)).pow(2).mean();

    private static Tensor Flow(Tensor bottom, Tensor top) =>
        top.flatten(2).bmm(bottom.flatten(2).transpose(1, 2)) / (bottom.shape[2] * bottom.shape[3]);
}
