using System.Globalization;
using GpuDistill.Compute;
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
        // The fused kernels run on an ILGPU accelerator: a simd device would hand relation losses to the composites
        // below (RelationComposites), so it is swapped for ILGPU's CPU accelerator here.
        ComputeDevice device = ComputeDevice.Default.UsesHostSimd ? ComputeDevice.Open(AcceleratorKind.Cpu) : ComputeDevice.Default;
        string backend = $"gpudistill {device.Kind}";
        // RKD angle has a host path of its own (libtorch Grams, vectorised angles): its rows run on a simd device too.
        ComputeDevice host = ComputeDevice.Open(AcceleratorKind.Simd);
        foreach (int batch in quick ? new[] { 128 } : [128, 1024])
        {
            foreach (ResultRow row in Measure("sp", backend, $"B{batch} D4096", quick,
                         random => [Uniform(random, batch, 4096), Uniform(random, batch, 4096)],
                         inputs => RelationComposites.SimilarityPreserving(inputs[0], inputs[1]),
                         // One thread per Gram entry: on the CPU simulator B = 1024 takes minutes per call.
                         device.Kind == AcceleratorKind.Cpu && batch > 128 ? null : inputs => Losses.SimilarityPreserving(inputs[0], inputs[1], device)))
                yield return row;
        }
        foreach (int batch in new[] { 64, 256 })
        {
            foreach (ResultRow row in Measure("rkd-distance", backend, $"B{batch} D512", quick,
                         random => [Uniform(random, batch, 512), Uniform(random, batch, 512)],
                         inputs => RelationComposites.RelationalDistance(inputs[0], inputs[1]),
                         inputs => Losses.RelationalDistance(inputs[0], inputs[1], device)))
                yield return row;
            foreach (ResultRow row in Measure("rkd-angle", backend, $"B{batch} D512", quick,
                         random => [Uniform(random, batch, 512), Uniform(random, batch, 512)],
                         inputs => RelationComposites.RelationalAngle(inputs[0], inputs[1]),
                         inputs => Losses.RelationalAngle(inputs[0], inputs[1], device),
                         hostPath: inputs => Losses.RelationalAngle(inputs[0], inputs[1], host)))
                yield return row;
        }
        foreach (ResultRow row in Measure("fsp", backend, "B64 C64x128 16x16", quick,
                     random => [Uniform(random, 64, 64, 16, 16), Uniform(random, 64, 128, 16, 16),
                                Uniform(random, 64, 64, 16, 16), Uniform(random, 64, 128, 16, 16)],
                     inputs => RelationComposites.FlowMatrix(inputs[0].flatten(2), inputs[1].flatten(2), inputs[2].flatten(2), inputs[3].flatten(2)),
                     inputs => Losses.FlowMatrix(inputs[0], inputs[1], inputs[2], inputs[3], device),
                     students: 2))
            yield return row;
    }

    private static IEnumerable<ResultRow> Measure(string kernel, string backend, string size, bool quick,
        Func<Random, Tensor[]> create, Func<Tensor[], Tensor> composite, Func<Tensor[], Tensor>? fused, int students = 1,
        Func<Tensor[], Tensor>? hostPath = null)
    {
        using var scope = NewDisposeScope();
        Tensor[] inputs = create(new Random(1));
        for (int i = 0; i < students; i++) inputs[i].requires_grad_(true);
        long bytes = inputs.Sum(t => t.numel()) * sizeof(float) + inputs.Take(students).Sum(t => t.numel()) * sizeof(float);

        Timing compositeForward = Time(() => { using (no_grad()) composite(inputs).Dispose(); });
        long compositeForwardPeak = Peak(() => { using (no_grad()) composite(inputs).Dispose(); });
        Timing compositeFull = Time(() => Backward(composite(inputs)));
        long compositeFullPeak = Peak(() => Backward(composite(inputs)));
        yield return new ResultRow(kernel, "torchsharp-composite", size, Mode("fwd", compositeForwardPeak), compositeForward, bytes, compositeForward.MedianMs);
        yield return new ResultRow(kernel, "torchsharp-composite", size, Mode("fwd+bwd", compositeFullPeak), compositeFull, bytes, compositeFull.MedianMs);
        if (fused is null) yield break;
        Timing fusedForward = Time(() => fused(inputs).Dispose());
        long fusedForwardPeak = Peak(() => fused(inputs).Dispose());
        Timing fusedFull = Time(() => Backward(fused(inputs)));
        long fusedFullPeak = Peak(() => Backward(fused(inputs)));

        yield return new ResultRow(kernel, backend, size, Mode("fwd (gradient incl.)", fusedForwardPeak), fusedForward, bytes, compositeForward.MedianMs);
        yield return new ResultRow(kernel, backend, size, Mode("fwd+bwd", fusedFullPeak), fusedFull, bytes, compositeFull.MedianMs);
        if (hostPath is null) yield break;
        Timing hostForward = Time(() => hostPath(inputs).Dispose());
        Timing hostFull = Time(() => Backward(hostPath(inputs)));
        yield return new ResultRow(kernel, "gpudistill Simd", size, Mode("fwd (gradient incl.)", Peak(() => hostPath(inputs).Dispose())),
            hostForward, bytes, compositeForward.MedianMs);
        yield return new ResultRow(kernel, "gpudistill Simd", size, Mode("fwd+bwd", Peak(() => Backward(hostPath(inputs)))),
            hostFull, bytes, compositeFull.MedianMs);

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
}
