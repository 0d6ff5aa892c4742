using System.Text.Json;
using System.Text.Json.Nodes;

namespace GpuDistill.Training;

/// <summary>
/// What the run in a checkpoint directory was trained as (its loss, the terms' settings, the schedule, the data and
/// the teacher), kept beside the checkpoints in <c>run.json</c>. A resumed or reused run must be the run asked for:
/// a directory named after a method holds that method's run, and when the method's pick, grid or schedule changes
/// the directory's name does not. Without this, <c>--resume</c> would report an earlier run as the new one.
/// </summary>
public static class CheckpointIdentity
{
    /// <summary>The identity's file name inside a checkpoint directory.</summary>
    public const string FileName = "run.json";

    /// <summary>
    /// Checks that <paramref name="directory"/> holds a run of <paramref name="identity"/> (when resuming) or records
    /// that it will (a fresh run, which overwrites the checkpoints). A directory without an identity, a fresh one or
    /// one written before identities were kept, takes this one.
    /// </summary>
    /// <param name="directory">The checkpoint directory.</param>
    /// <param name="identity">What the run is, as a JSON object.</param>
    /// <param name="resume">Whether the run continues (or reuses) what the directory holds.</param>
    /// <param name="writesFiles">Whether this process writes files (only rank 0 of a distributed run does).</param>
    /// <exception cref="InvalidDataException">When resuming a directory that holds another run; names both.</exception>
    public static void Claim(string directory, JsonObject identity, bool resume, bool writesFiles = true)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(identity);
        string path = Path.Combine(directory, FileName);
        if (resume && File.Exists(path))
        {
            JsonNode? kept = JsonNode.Parse(File.ReadAllText(path));
            if (!Agrees(kept, identity))
            {
                throw new InvalidDataException(
                    $"The checkpoint directory '{directory}' holds a run of {kept?.ToJsonString()}, not of this run, {identity.ToJsonString()}. " +
                    "Resuming would report that run as this one: use another output directory, or remove that one to train afresh.");
            }
            return;
        }
        if (writesFiles) AtomicFile.WriteAllText(path, identity.ToJsonString(Indented));
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Whether two identities describe the same run: equal values wherever both have a key. A key only one side has
    /// is a setting that a newer or older version of the library added, so runs stay resumable across versions.
    /// </summary>
    internal static bool Agrees(JsonNode? a, JsonNode? b) => (a, b) switch
    {
        (null, null) => true,
        (JsonObject x, JsonObject y) => x.All(p => !y.ContainsKey(p.Key) || Agrees(p.Value, y[p.Key])),
        (JsonArray x, JsonArray y) => x.Count == y.Count && x.Zip(y).All(p => Agrees(p.First, p.Second)),
        (JsonValue x, JsonValue y) => JsonNode.DeepEquals(x, y),
        _ => false,
    };
}
