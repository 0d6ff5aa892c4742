using System.Diagnostics;
using System.Globalization;

namespace GpuDistill.Deployment;

/// <summary>What <see cref="OnnxLatency.Measure"/> found for one exported model.</summary>
/// <param name="Path">The .onnx file.</param>
/// <param name="FileBytes">Its size in bytes.</param>
/// <param name="MillisecondsPerImageBatch1">Median time of one run at batch 1.</param>
/// <param name="MillisecondsPerImageBatch256">Median time of one run at batch 256, divided by 256.</param>
/// <param name="Repeats">Timed runs per batch size (after warm-up).</param>
/// <param name="IntraOpThreads">ONNX Runtime's intra-op threads (0: its default).</param>
public sealed record OnnxLatencyResult(string Path, long FileBytes, double MillisecondsPerImageBatch1,
    double MillisecondsPerImageBatch256, int Repeats, int IntraOpThreads)
{
    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{System.IO.Path.GetFileName(Path)}: {FileBytes / 1024.0:F1} KiB, {MillisecondsPerImageBatch1:F4} ms/image at batch 1, {MillisecondsPerImageBatch256:F4} ms/image at batch 256 (median of {Repeats}, {(IntraOpThreads == 0 ? "default" : IntraOpThreads.ToString(CultureInfo.InvariantCulture))} intra-op threads)");
}

/// <summary>
/// Serving cost of an exported model in ONNX Runtime on this machine: file size and latency per image at batch 1
/// and batch 256 (median of repeated runs on fixed random 28x28 images, after warm-up).
/// </summary>
/// <remarks>Timings depend on the machine and on what else runs on it: report them with the machine.</remarks>
public static class OnnxLatency
{
    /// <summary>The batch sizes measured.</summary>
    public static IReadOnlyList<int> BatchSizes { get; } = [1, 256];

    /// <summary>Times <paramref name="path"/> at batch 1 and 256.</summary>
    /// <param name="path">An exported model with input [batch, 1, 28, 28].</param>
    /// <param name="repeats">Timed runs per batch size (the median is reported), at least 3.</param>
    /// <param name="warmup">Untimed runs first, per batch size.</param>
    /// <param name="intraOpThreads">ONNX Runtime's intra-op threads; 0 lets it choose.</param>
    /// <returns>File size and medians.</returns>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    public static OnnxLatencyResult Measure(string path, int repeats = 30, int warmup = 3, int intraOpThreads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 3);
        ArgumentOutOfRangeException.ThrowIfNegative(warmup);
        using var runner = new OnnxRunner(path, intraOpThreads);
        var random = new Random(1);
        var perImage = new double[BatchSizes.Count];
        for (int b = 0; b < BatchSizes.Count; b++)
        {
            int batch = BatchSizes[b];
            float[] images = new float[batch * 28 * 28];
            for (int i = 0; i < images.Length; i++) images[i] = (float)(random.NextDouble() * 4 - 1);
            long[] shape = [batch, 1, 28, 28];
            for (int i = 0; i < warmup; i++) runner.Run(images, shape).Dispose();
            var samples = new double[repeats];
            for (int i = 0; i < repeats; i++)
            {
                long start = Stopwatch.GetTimestamp();
                runner.Run(images, shape).Dispose();
                samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            Array.Sort(samples);
            double median = repeats % 2 == 1 ? samples[repeats / 2] : (samples[repeats / 2 - 1] + samples[repeats / 2]) / 2;
            perImage[b] = median / batch;
        }
        return new OnnxLatencyResult(Path.GetFullPath(path), new FileInfo(path).Length, perImage[0], perImage[1], repeats, intraOpThreads);
    }
}
