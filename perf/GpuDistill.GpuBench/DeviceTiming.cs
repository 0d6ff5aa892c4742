using System.Diagnostics;

namespace GpuDistill.GpuBench;

/// <summary>Median and spread of one operation's device time, per call.</summary>
/// <param name="MedianMs">Median milliseconds per call.</param>
/// <param name="P20Ms">20th percentile.</param>
/// <param name="P80Ms">80th percentile.</param>
/// <param name="Samples">Timed samples.</param>
/// <param name="CallsPerSample">Calls enqueued back to back in each sample.</param>
public sealed record DeviceTiming(double MedianMs, double P20Ms, double P80Ms, int Samples, int CallsPerSample)
{
    /// <summary>How long and how often to measure.</summary>
    /// <param name="MinSamples">Samples taken at least.</param>
    /// <param name="MaxSamples">Samples taken at most.</param>
    /// <param name="MinSeconds">Keep sampling until this much time has passed (or <paramref name="MaxSamples"/>).</param>
    /// <param name="MaxSeconds">Stop once this much time has passed, if <paramref name="MinSamples"/> are in.</param>
    /// <param name="MinSampleMs">Calls are batched so that one sample lasts at least this long.</param>
    public sealed record Budget(int MinSamples = 7, int MaxSamples = 50, double MinSeconds = 0.3, double MaxSeconds = 3,
        double MinSampleMs = 5);

    /// <summary>
    /// Times <paramref name="call"/>: one warm-up call (it compiles the kernel on first use), one call to size the
    /// batches, then samples of back-to-back calls followed by one synchronisation, so a sample measures device time
    /// and not the launch round trip; the host enqueues faster than the device runs all but the smallest launches.
    /// </summary>
    /// <param name="call">Enqueues one call.</param>
    /// <param name="synchronize">Waits for the device.</param>
    /// <param name="budget">How long and how often.</param>
    /// <returns>Per-call timing.</returns>
    public static DeviceTiming Measure(Action call, Action synchronize, Budget? budget = null)
    {
        ArgumentNullException.ThrowIfNull(call);
        ArgumentNullException.ThrowIfNull(synchronize);
        budget ??= new Budget();
        call();
        synchronize();
        long start = Stopwatch.GetTimestamp();
        call();
        synchronize();
        double single = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        int batch = (int)Math.Clamp(Math.Ceiling(budget.MinSampleMs / Math.Max(single, 1e-3)), 1, 1000);
        // A call that takes seconds (a slow layout at a large size) gets fewer samples rather than minutes.
        int minSamples = single > 500 ? Math.Min(3, budget.MinSamples) : budget.MinSamples;

        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < budget.MaxSamples
               && (samples.Count < minSamples || total.Elapsed.TotalSeconds < budget.MinSeconds)
               && !(samples.Count >= minSamples && total.Elapsed.TotalSeconds > budget.MaxSeconds))
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < batch; i++) call();
            synchronize();
            samples.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds / batch);
        }
        samples.Sort();
        return new DeviceTiming(Quantile(samples, 0.5), Quantile(samples, 0.2), Quantile(samples, 0.8), samples.Count, batch);
    }

    private static double Quantile(List<double> sorted, double q)
    {
        double position = q * (sorted.Count - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Count - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
    }
}
