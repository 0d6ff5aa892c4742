using System.Diagnostics;

namespace GpuDistill.Perf;

/// <summary>Median and spread (20th and 80th percentiles) of repeated runs, after warm-up.</summary>
internal sealed record Timing(double MedianMs, double P20Ms, double P80Ms, int Repeats)
{
    /// <summary>Runs <paramref name="action"/> warm-up times, then until both a repeat count and a time budget are met.</summary>
    public static Timing Measure(Action action, int warmup = 2, int minRepeats = 10, double minSeconds = 0.5, int maxRepeats = 200) =>
        Measure(null, action, warmup, minRepeats, minSeconds, maxRepeats);

    /// <summary>As <see cref="Measure(Action, int, int, double, int)"/>, with an untimed <paramref name="setup"/> before each run.</summary>
    public static Timing Measure(Action? setup, Action action, int warmup = 2, int minRepeats = 10, double minSeconds = 0.5, int maxRepeats = 200)
    {
        // Warm up for a number of runs and at least 0.2 s, so tiered compilation has re-compiled the hot code.
        var warming = Stopwatch.StartNew();
        for (int i = 0; i < warmup || (i < maxRepeats && warming.Elapsed.TotalSeconds < 0.2); i++)
        {
            setup?.Invoke();
            action();
        }
        var samples = new List<double>();
        var total = Stopwatch.StartNew();
        while (samples.Count < maxRepeats && (samples.Count < minRepeats || total.Elapsed.TotalSeconds < minSeconds))
        {
            setup?.Invoke();
            long start = Stopwatch.GetTimestamp();
            action();
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        return FromSamples(samples);
    }

    /// <summary>
    /// Times several actions in interleaved rounds (one run of each per round), so that a machine whose speed drifts
    /// (other jobs starting or stopping) affects every action alike; used where small differences between them matter.
    /// </summary>
    /// <param name="actions">What to time.</param>
    /// <param name="warmup">Untimed rounds first.</param>
    /// <param name="minRounds">Rounds at least.</param>
    /// <param name="maxRounds">Rounds at most.</param>
    /// <param name="maxSeconds">Time after which no round starts once <paramref name="minRounds"/> are done.</param>
    public static Timing[] MeasureInterleaved(IReadOnlyList<Action> actions, int warmup, int minRounds, int maxRounds, double maxSeconds)
    {
        var warming = Stopwatch.StartNew();
        for (int i = 0; i < warmup || warming.Elapsed.TotalSeconds < 0.2; i++)
            foreach (Action action in actions) action();
        var samples = actions.Select(_ => new List<double>()).ToArray();
        var clock = Stopwatch.StartNew();
        for (int round = 0; round < maxRounds && (round < minRounds || clock.Elapsed.TotalSeconds < maxSeconds); round++)
        {
            for (int a = 0; a < actions.Count; a++)
            {
                long start = Stopwatch.GetTimestamp();
                actions[a]();
                samples[a].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }
        return samples.Select(FromSamples).ToArray();
    }

    /// <summary>The median and spread of samples taken elsewhere (e.g. per-step times of whole training epochs).</summary>
    public static Timing Of(IEnumerable<double> samples) => FromSamples([.. samples]);

    /// <summary>Median and spread of raw samples (sorted in place).</summary>
    internal static Timing FromSamples(List<double> samples)
    {
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
