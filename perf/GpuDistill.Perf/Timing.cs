using System.Diagnostics;

namespace GpuDistill.Perf;

/// <summary>Median and spread of repeated runs, after warm-up.</summary>
internal sealed record Timing(double MedianMs, double P20Ms, double P80Ms, int Repeats)
{
    /// <summary>Runs <paramref name="action"/> warm-up times, then until both a repeat count and a time budget are met.</summary>
    public static Timing Measure(Action action, int warmup = 2, int minRepeats = 10, double minSeconds = 0.5, int maxRepeats = 200)
    {
        for (int i = 0; i < warmup; i++) action();
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < maxRepeats && (samples.Count < minRepeats || total.Elapsed.TotalSeconds < minSeconds))
        {
            long start = Stopwatch.GetTimestamp();
            action();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
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
