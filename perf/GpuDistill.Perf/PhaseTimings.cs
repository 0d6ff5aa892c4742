using System.Diagnostics;
using System.Text.Json;

namespace GpuDistill.Perf;

/// <summary>
/// The time of a whole action (a training step) and of each of its phases: the action adds a timestamp at the end of
/// every phase but the last, which ends when the action has returned (so freeing its tensors counts).
/// </summary>
/// <param name="Total">The whole action.</param>
/// <param name="Phases">Each phase, by name.</param>
internal sealed record PhaseTimings(Timing Total, IReadOnlyDictionary<string, Timing> Phases)
{
    /// <summary>Times the actions in interleaved rounds, so a shared machine's changing load falls on all alike.</summary>
    /// <param name="actions">Each action by name; it adds a timestamp per phase end (but the last) to the list.</param>
    /// <param name="phases">Each action's phase names, in order.</param>
    /// <param name="warmup">Untimed rounds first.</param>
    /// <param name="rounds">Timed rounds.</param>
    public static Dictionary<string, PhaseTimings> Measure(IReadOnlyDictionary<string, Action<List<long>>> actions,
        IReadOnlyDictionary<string, string[]> phases, int warmup, int rounds)
    {
        var marks = new List<long>();
        for (int i = 0; i < warmup; i++)
        {
            foreach (Action<List<long>> action in actions.Values)
            {
                marks.Clear();
                action(marks);
            }
        }
        var samples = actions.Keys.ToDictionary(name => name, name => new List<double>[phases[name].Length + 1]);
        foreach (List<double>[] lists in samples.Values)
        {
            for (int i = 0; i < lists.Length; i++) lists[i] = new List<double>(rounds);
        }
        for (int round = 0; round < rounds; round++)
        {
            foreach ((string name, Action<List<long>> action) in actions)
            {
                marks.Clear();
                marks.Add(Stopwatch.GetTimestamp());
                action(marks);
                marks.Add(Stopwatch.GetTimestamp());
                if (marks.Count != phases[name].Length + 1)
                    throw new InvalidOperationException($"{name} marked {marks.Count - 2} phase ends; expected {phases[name].Length - 1}.");
                List<double>[] lists = samples[name];
                lists[0].Add(Stopwatch.GetElapsedTime(marks[0], marks[^1]).TotalMilliseconds);
                for (int p = 0; p < phases[name].Length; p++)
                    lists[p + 1].Add(Stopwatch.GetElapsedTime(marks[p], marks[p + 1]).TotalMilliseconds);
            }
        }
        return samples.ToDictionary(s => s.Key, s => new PhaseTimings(Timing.FromSamples(s.Value[0]),
            phases[s.Key].Select((phase, p) => (phase, Timing.FromSamples(s.Value[p + 1]))).ToDictionary(x => x.phase, x => x.Item2)));
    }

    /// <summary>
    /// Reads perf/step/torch_step.py's JSON: per action (named as here via <paramref name="names"/>) the median, p20 and
    /// p80 of the whole step and the median of each phase.
    /// </summary>
    public static Dictionary<string, PhaseTimings> FromPyTorchJson(string json, IReadOnlyDictionary<string, string[]> phases,
        IReadOnlyDictionary<string, string> names, out string version)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        version = root.GetProperty("torch").GetString() ?? "?";
        int steps = root.GetProperty("steps").GetInt32();
        var result = new Dictionary<string, PhaseTimings>();
        foreach ((string name, string key) in names)
        {
            JsonElement step = root.GetProperty(key);
            var total = new Timing(step.GetProperty("median_ms").GetDouble(), step.GetProperty("p20_ms").GetDouble(),
                step.GetProperty("p80_ms").GetDouble(), steps);
            JsonElement medians = step.GetProperty("phases_median_ms");
            result[name] = new PhaseTimings(total, phases[name].ToDictionary(phase => phase, phase =>
            {
                double median = medians.GetProperty(phase).GetDouble();
                return new Timing(median, double.NaN, double.NaN, steps);
            }));
        }
        return result;
    }
}
