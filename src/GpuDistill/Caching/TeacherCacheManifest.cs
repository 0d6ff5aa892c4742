using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuDistill.Caching;

/// <summary>
/// The metadata file of a teacher-output cache (<c>teacher-cache.json</c> beside its Parquet files): what teacher and
/// dataset the outputs belong to, what is stored, and the files in index order. The schema is documented in
/// docs/teacher-cache.md; any tool that writes it and the Parquet columns it names makes a cache GpuDistill reads.
/// </summary>
public sealed record TeacherCacheManifest
{
    /// <summary>The metadata file's name inside the cache directory.</summary>
    public const string FileName = "teacher-cache.json";

    /// <summary>The format this version writes and reads.</summary>
    public const string CurrentFormat = "gpudistill-teacher-cache/1";

    /// <summary>Format name and version; a cache of another format is refused.</summary>
    public string Format { get; init; } = CurrentFormat;

    /// <summary>The teacher's architecture name (e.g. teacher-cnn).</summary>
    public required string TeacherArchitecture { get; init; }

    /// <summary>The teacher's weights checksum (<see cref="Models.ModelChecksum"/>).</summary>
    public required string TeacherChecksum { get; init; }

    /// <summary>Where the dataset came from (informative).</summary>
    public required string DatasetSource { get; init; }

    /// <summary>The number of examples; the cache holds one row for each, indices 0 to count - 1.</summary>
    public required int DatasetCount { get; init; }

    /// <summary>The dataset's checksum (<see cref="Data.DatasetChecksum"/>).</summary>
    public required string DatasetChecksum { get; init; }

    /// <summary>The number of classes C.</summary>
    public required int Classes { get; init; }

    /// <summary>Null when every logit is stored; K when only the K largest are (with their class ids and the row's
    /// log-sum-exp, from which the others are filled in: see <see cref="TeacherCacheReader"/>).</summary>
    public int? TopK { get; init; }

    /// <summary>What the logit values are: always raw, temperature-free logits (before any softmax or temperature).</summary>
    public string Stored { get; init; } = "raw logits";

    /// <summary>The teacher layers stored, each a column of flattened values.</summary>
    public IReadOnlyList<CachedLayer> Layers { get; init; } = [];

    /// <summary>The Parquet files, their rows contiguous in index order across the files in this order.</summary>
    public required IReadOnlyList<CachedFile> Files { get; init; }

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The manifest as JSON.</summary>
    /// <returns>Indented camelCase JSON.</returns>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads the manifest of the cache in <paramref name="directory"/>.</summary>
    /// <param name="directory">The cache directory.</param>
    /// <returns>The manifest.</returns>
    /// <exception cref="InvalidDataException">The file is missing, unreadable or of another format; the message names it.</exception>
    public static TeacherCacheManifest Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new InvalidDataException($"{path}: no teacher cache here (its metadata file {FileName} is missing); write one with 'gpudistill cache-teacher'.");
        TeacherCacheManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<TeacherCacheManifest>(File.ReadAllText(path), Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a teacher-cache metadata file ({e.Message}).", e);
        }
        if (manifest is null) throw new InvalidDataException($"{path}: empty teacher-cache metadata file.");
        if (manifest.Format != CurrentFormat)
            throw new InvalidDataException($"{path}: format '{manifest.Format}', but this version reads '{CurrentFormat}'.");
        if (manifest.Files is null || manifest.Files.Count == 0) throw new InvalidDataException($"{path}: lists no Parquet files.");
        return manifest;
    }
}

/// <summary>A stored teacher layer.</summary>
/// <param name="Layer">The module path (as feature terms name it, e.g. stage3 or head:in).</param>
/// <param name="Column">Its Parquet column (a list of float32, one example's values flattened row-major).</param>
/// <param name="Shape">One example's shape, without the batch dimension.</param>
public sealed record CachedLayer(string Layer, string Column, long[] Shape);

/// <summary>One Parquet file of a cache.</summary>
/// <param name="Name">The file name inside the cache directory.</param>
/// <param name="Bytes">Its size in bytes (a shorter file is a truncated one).</param>
/// <param name="FirstIndex">The example index of its first row.</param>
/// <param name="Rows">Its number of rows.</param>
public sealed record CachedFile(string Name, long Bytes, int FirstIndex, int Rows);
