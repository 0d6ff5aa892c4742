namespace GpuDistill.Training;

/// <summary>Writes a file beside its target and renames it over, so readers never see half a file.</summary>
public static class AtomicFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="text"/> in one rename.</summary>
    public static void WriteAllText(string path, string text) => Write(path, writer => writer.Write(text.AsSpan()));

    /// <summary>Replaces <paramref name="path"/> with what <paramref name="write"/> writes, in one rename.</summary>
    public static void Write(string path, Action<BinaryWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        using (var writer = new BinaryWriter(stream))
        {
            write(writer);
            writer.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, full, overwrite: true);
    }
}
