using System.Runtime.InteropServices;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Models;

/// <summary>
/// Crash-safe saving and checked loading of a module's weights and buffers, in TorchSharp's own format
/// (the one <c>module.save</c>/<c>module.load</c> use).
/// </summary>
public static class Checkpoint
{
    /// <summary>
    /// Writes the module's state to <c>path + ".tmp"</c>, flushes it to disk, then renames it over
    /// <paramref name="path"/>. A run killed at any moment leaves either the previous checkpoint or the new one,
    /// never a partial file. Creates the directory when needed.
    /// </summary>
    /// <param name="module">The module whose parameters and buffers to save.</param>
    /// <param name="path">Destination file; replaced when it exists.</param>
    public static void SaveAtomic(Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);

        string temp = full + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
                {
                    module.save(writer);
                    writer.Flush();
                }
                // Without this the rename can reach the disk before the data does, and a power cut leaves an empty file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            // Only left behind when saving failed; after a successful move it no longer exists.
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>Loads the module's state from <paramref name="path"/> when that file exists.</summary>
    /// <remarks>
    /// The checkpoint must match the module exactly (same parameter and buffer names and shapes) and hold nothing
    /// after the state. When loading fails the module's previous values are restored, so it is never left
    /// half-loaded.
    /// </remarks>
    /// <param name="module">The module to load into.</param>
    /// <param name="path">The checkpoint file.</param>
    /// <returns>True when loaded; false when the file does not exist.</returns>
    /// <exception cref="InvalidDataException">
    /// The file exists but is corrupt, truncated or from another architecture; the message names the file.
    /// </exception>
    public static bool TryLoad(Module module, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) return false;

        Dictionary<string, Tensor> backup = Snapshot(module);
        try
        {
            using var stream = new FileStream(full, FileMode.Open, FileAccess.Read, FileShare.Read);
            using var reader = new BinaryReader(stream);
            LoadState(module, reader);
            if (stream.Position != stream.Length)
                throw new InvalidDataException($"{stream.Length - stream.Position} unexpected bytes after the state.");
            return true;
        }
        catch (Exception e) when (IsBadData(e))
        {
            Restore(module, backup);
            throw new InvalidDataException(
                $"Checkpoint '{full}' could not be loaded into module '{module.GetName()}': {e.Message} " +
                "The file is corrupt or truncated, or was saved from a different architecture.", e);
        }
        finally
        {
            foreach (Tensor t in backup.Values) t.Dispose();
        }
    }

    /// <summary>The state key SameConv2d's weight had before it was registered by name (checkpoints of 2026-12-05/06).</summary>
    private const string LegacyWeightKey = "<weight>k__BackingField";

    /// <summary>
    /// Reads TorchSharp's state format (an LEB128 entry count, then each entry's name and tensor) into
    /// <paramref name="module"/>'s state, strictly (every entry once, no other), as <c>Module.load</c> does, but
    /// reading the legacy key <see cref="LegacyWeightKey"/> as <c>weight</c>.
    /// </summary>
    private static void LoadState(Module module, BinaryReader reader)
    {
        Dictionary<string, Tensor> state = module.state_dict();
        long entries = ReadCount(reader);
        if (entries != state.Count)
            throw new InvalidDataException($"Mismatched state sizes: the module has {state.Count} entries, the file {entries}.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (long i = 0; i < entries; i++)
        {
            string key = reader.ReadString();
            if (key.EndsWith(LegacyWeightKey, StringComparison.Ordinal)) key = key[..^LegacyWeightKey.Length] + "weight";
            if (!state.TryGetValue(key, out Tensor? target) || !seen.Add(key))
                throw new InvalidDataException($"Mismatched module state names: the module has no entry '{key}' (or the file repeats it).");
            TorchSharp.TensorExtensionMethods.Load(target, reader);
        }
    }

    /// <summary>An unsigned LEB128 integer, as TorchSharp writes the entry count.</summary>
    private static long ReadCount(BinaryReader reader)
    {
        long value = 0;
        for (int shift = 0; shift < 63; shift += 7)
        {
            byte b = reader.ReadByte();
            value |= (long)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new InvalidDataException("The entry count of the state is not a valid LEB128 integer.");
    }

    // What a malformed file can make TorchSharp's reader throw: short reads, bad counts, names or shapes, absurd
    // sizes that libtorch refuses, or an allocation that a garbage shape makes impossible.
    private static bool IsBadData(Exception e) =>
        e is IOException or ArgumentException or InvalidDataException or FormatException or OverflowException
            or InvalidCastException or NotSupportedException or NotImplementedException or ExternalException
            or OutOfMemoryException or IndexOutOfRangeException or KeyNotFoundException;

    private static Dictionary<string, Tensor> Snapshot(Module module)
    {
        using var noGrad = no_grad();
        var copy = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string name, Tensor value) in module.state_dict())
        {
            using Tensor detached = value.detach();
            copy[name] = detached.clone();
        }
        return copy;
    }

    private static void Restore(Module module, Dictionary<string, Tensor> backup)
    {
        using var noGrad = no_grad();
        foreach ((string name, Tensor value) in module.state_dict())
        {
            if (backup.TryGetValue(name, out Tensor? saved)) value.copy_(saved);
        }
    }
}
