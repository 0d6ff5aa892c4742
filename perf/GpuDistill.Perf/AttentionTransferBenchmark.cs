using System.Diagnostics;
using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Attention transfer (loss-spec 2.2) against the same math written in TorchSharp ops, at each size, in one run:
/// the fused loss forward + backward in both forms, and the attention map alone, forward and backward.
/// </summary>
/// <remarks>
/// The composite is F.normalize(|f|^p averaged (code) or summed (paper) over channels, flattened to [B, H*W]) for
/// each feature, then mean((a_s - a_t)^2) or mean_b ||a_s - a_t||, with autograd's backward. Bytes per row are the
/// fused kernels' own traffic: loss fwd+bwd reads the student twice and the teacher once and writes the gradient
/// (4 feature-sized arrays); the map forward reads the feature once; the map backward reads it and writes the
/// gradient. A backward is timed alone: its forward runs before the clock starts.
/// </remarks>
internal static class AttentionTransferBenchmark
{
    /// <summary>The exponent of every size (the references' default).</summary>
    public const double P = 2.0;

    // Held for the process: TorchSharp's bare-number overloads wrap a temporary Scalar the GC may free mid-call.
    private static readonly Scalar Exponent = P.ToScalar();
    private static readonly Scalar Two = 2.0.ToScalar();
    private static readonly Scalar One = 1.0.ToScalar();

    /// <summary>B x C x H x W of the student and the teacher (issue 4).</summary>
    public static IReadOnlyList<(int Batch, int Channels, int Height, int Width)> Sizes { get; } =
        [(64, 64, 32, 32), (128, 256, 16, 16), (8, 512, 56, 56)];

    /// <summary>Every size of <see cref="Sizes"/> on every device.</summary>
    public static IEnumerable<ResultRow> Run(IReadOnlyList<(string Name, ComputeDevice Device)> devices, bool quick) =>
        Run(Sizes, devices, quick);

    /// <summary>The given sizes on every device; <paramref name="quick"/> times fewer repeats.</summary>
    public static IEnumerable<ResultRow> Run(IReadOnlyList<(int Batch, int Channels, int Height, int Width)> sizes,
        IReadOnlyList<(string Name, ComputeDevice Device)> devices, bool quick)
    {
        ArgumentNullException.ThrowIfNull(sizes);
        ArgumentNullException.ThrowIfNull(devices);
        foreach ((int batch, int channels, int height, int width) in sizes)
        {
            string size = $"{batch}x{channels}x{height}x{width}";
            long featureBytes = (long)batch * channels * height * width * sizeof(float);
            int repeats = quick ? 3 : 10;
            double minSeconds = quick ? 0.2 : 1.0;

            using var scope = NewDisposeScope();
            var generator = new Generator(1);
            Tensor student = randn([batch, channels, height, width], generator: generator).requires_grad_(true);
            Tensor teacher = randn([batch, channels, height, width], generator: generator);
            Tensor upstream = randn([batch, height * width], generator: generator);

            foreach (AttentionTransferForm form in new[] { AttentionTransferForm.Code, AttentionTransferForm.Paper })
            {
                string mode = $"fwd+bwd {form.ToString().ToLowerInvariant()}";
                Timing composite = Timing.Measure(() =>
                {
                    using var step = NewDisposeScope();
                    student.grad = null;
                    CompositeLoss(student, teacher, form).backward();
                }, warmup: 1, minRepeats: repeats, minSeconds: minSeconds);
                yield return new ResultRow("attention-transfer", "torchsharp-composite", size, mode, composite, 4 * featureBytes, composite.MedianMs);

                foreach ((string name, ComputeDevice device) in devices)
                {
                    Timing fused = Timing.Measure(() =>
                    {
                        using var step = NewDisposeScope();
                        student.grad = null;
                        GpuDistill.Losses.AttentionTransfer(student, teacher, P, form, device).backward();
                    }, warmup: 1, minRepeats: repeats, minSeconds: minSeconds);
                    yield return new ResultRow("attention-transfer", name, size, mode + ", copies incl.", fused, 4 * featureBytes, composite.MedianMs);
                }
            }

            Timing compositeMap = Timing.Measure(() =>
            {
                using var step = NewDisposeScope();
                using var noGrad = no_grad();
                CompositeMap(student, AttentionTransferForm.Code);
            }, warmup: 1, minRepeats: repeats, minSeconds: minSeconds);
            yield return new ResultRow("attention-map", "torchsharp-composite", size, "fwd", compositeMap, featureBytes, compositeMap.MedianMs);
            Timing compositeMapBackward = MeasureBackward(() => CompositeMap(student, AttentionTransferForm.Code), upstream, student, repeats, minSeconds);
            yield return new ResultRow("attention-map", "torchsharp-composite", size, "bwd", compositeMapBackward, 2 * featureBytes, compositeMapBackward.MedianMs);

            foreach ((string name, ComputeDevice device) in devices)
            {
                Timing map = Timing.Measure(() =>
                {
                    using var step = NewDisposeScope();
                    using var noGrad = no_grad();
                    GpuDistill.Losses.AttentionMap(student, P, device: device);
                }, warmup: 1, minRepeats: repeats, minSeconds: minSeconds);
                yield return new ResultRow("attention-map", name, size, "fwd, copies incl.", map, featureBytes, compositeMap.MedianMs);
                Timing mapBackward = MeasureBackward(() => GpuDistill.Losses.AttentionMap(student, P, device: device), upstream, student, repeats, minSeconds);
                yield return new ResultRow("attention-map", name, size, "bwd, copies incl.", mapBackward, 2 * featureBytes, compositeMapBackward.MedianMs);
            }
        }
    }

    /// <summary>The attention map in TorchSharp ops: F.normalize(mean or sum over channels of |f|^p) over H*W.</summary>
    public static Tensor CompositeMap(Tensor feature, AttentionTransferForm form)
    {
        ArgumentNullException.ThrowIfNull(feature);
        using Tensor absolute = feature.abs();
        using Tensor powered = absolute.pow(Exponent);
        using Tensor reduced = form == AttentionTransferForm.Paper ? powered.sum(1) : powered.mean([1]);
        using Tensor flat = reduced.flatten(1);
        return nn.functional.normalize(flat, 2.0, 1, 1e-12);
    }

    /// <summary>The attention-transfer loss in TorchSharp ops.</summary>
    public static Tensor CompositeLoss(Tensor student, Tensor teacher, AttentionTransferForm form)
    {
        using Tensor mapS = CompositeMap(student, form);
        using Tensor mapT = CompositeMap(teacher, form);
        using Tensor negated = mapT.neg();
        using Tensor difference = mapS.add(negated, alpha: One);
        using Tensor perEntry = form == AttentionTransferForm.Paper ? difference.norm(1, false, 2) : difference.pow(Two);
        return perEntry.mean();
    }

    /// <summary>Times backward(upstream) alone: each repeat builds the forward before the clock starts.</summary>
    private static Timing MeasureBackward(Func<Tensor> forward, Tensor upstream, Tensor input, int repeats, double minSeconds)
    {
        void Once(List<double>? samples)
        {
            using var step = NewDisposeScope();
            input.grad = null;
            Tensor output = forward();
            long start = Stopwatch.GetTimestamp();
            output.backward([upstream]);
            samples?.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        Once(null);
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < 200 && (samples.Count < repeats || total.Elapsed.TotalSeconds < minSeconds)) Once(samples);
        samples.Sort();
        return new Timing(Quantile(samples, 0.5), Quantile(samples, 0.2), Quantile(samples, 0.8), samples.Count);
    }

    private static double Quantile(List<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Count - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
    }
}
