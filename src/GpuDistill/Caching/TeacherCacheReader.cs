using GpuDistill.Data;
using GpuDistill.Models;
using Parquet;
using Parquet.Schema;

namespace GpuDistill.Caching;

/// <summary>
/// Reads a teacher-output cache (<see cref="TeacherCacheWriter"/> or any tool writing the schema of
/// docs/teacher-cache.md) by example index. Row groups are decoded when a batch first needs one and kept while they fit
/// the memory budget, the least recently used going first: the whole cache is never held unless it fits.
/// </summary>
/// <remarks>
/// With top-K logits, the C - K classes not stored share the probability mass the stored ones leave, equally:
/// each gets the logit <c>logsumexp + log((1 - sum_k exp(l_k - logsumexp)) / (C - K))</c>, so the softmax at
/// temperature 1 keeps the stored classes' probabilities exactly (at other temperatures it is an approximation).
/// </remarks>
public sealed class TeacherCacheReader : IDisposable
{
    /// <summary>Default memory budget for decoded row groups: 1 GiB.</summary>
    public const long DefaultMemoryBudgetBytes = 1L << 30;

    private readonly string directory;
    private readonly List<(FileStream Stream, ParquetReader Reader)> files = [];
    private readonly List<GroupLocation> groups = [];
    private readonly Dictionary<int, LinkedListNode<DecodedGroup>> decoded = [];
    private readonly LinkedList<DecodedGroup> recentlyUsed = new();
    private readonly long memoryBudgetBytes;
    private readonly HashSet<string> wantedLayers;
    private long decodedBytes;

    private TeacherCacheReader(string directory, TeacherCacheManifest manifest, long memoryBudgetBytes, IEnumerable<string> wantedLayers)
    {
        this.directory = directory;
        this.wantedLayers = new HashSet<string>(wantedLayers, StringComparer.Ordinal);
        Manifest = manifest;
        this.memoryBudgetBytes = memoryBudgetBytes;
    }

    /// <summary>The cache's metadata.</summary>
    public TeacherCacheManifest Manifest { get; }

    /// <summary>Row groups decoded so far (a group decoded again after eviction counts again).</summary>
    public int RowGroupsDecoded { get; private set; }

    /// <summary>Row groups in the cache.</summary>
    public int RowGroupCount => groups.Count;

    /// <summary>
    /// Opens the cache in <paramref name="directory"/> for <paramref name="dataset"/> and <paramref name="teacher"/>,
    /// after checking that it is theirs and whole.
    /// </summary>
    /// <param name="directory">The cache directory.</param>
    /// <param name="dataset">The dataset the rows must belong to (size, classes, checksum).</param>
    /// <param name="teacher">The teacher the outputs must come from (architecture, checksum); null to skip that check.</param>
    /// <param name="layers">Teacher layers the caller reads; each must be stored (the others are not decoded).</param>
    /// <param name="memoryBudgetBytes">Most bytes of decoded row groups kept at once.</param>
    /// <returns>The reader.</returns>
    /// <exception cref="InvalidDataException">The cache does not match, or a file is missing, truncated or lacks a
    /// column; the message names the file and what differs.</exception>
    public static TeacherCacheReader Open(string directory, ImageDataset dataset, DistillModel? teacher,
        IReadOnlyCollection<string>? layers = null, long memoryBudgetBytes = DefaultMemoryBudgetBytes)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryBudgetBytes);
        TeacherCacheManifest manifest = TeacherCacheManifest.Load(directory);
        string metadata = Path.Combine(directory, TeacherCacheManifest.FileName);
        if (manifest.DatasetCount != dataset.Count || manifest.Classes != dataset.ClassCount)
        {
            throw new InvalidDataException(
                $"{metadata}: the cache is of a dataset of {manifest.DatasetCount} examples and {manifest.Classes} classes ({manifest.DatasetSource}); this training set has {dataset.Count} and {dataset.ClassCount} ({dataset.Source}).");
        }
        string datasetChecksum = DatasetChecksum.Of(dataset);
        if (manifest.DatasetChecksum != datasetChecksum)
        {
            throw new InvalidDataException(
                $"{metadata}: the cache is of another dataset of the same size: its checksum is {manifest.DatasetChecksum}, this training set's {datasetChecksum} ({dataset.Source}).");
        }
        if (teacher is not null)
        {
            string teacherChecksum = ModelChecksum.Of(teacher);
            if (manifest.TeacherArchitecture != teacher.Architecture || manifest.TeacherChecksum != teacherChecksum)
            {
                throw new InvalidDataException(
                    $"{metadata}: the cache was written by another teacher: {manifest.TeacherArchitecture} with weights checksum {manifest.TeacherChecksum}; this teacher is {teacher.Architecture} with {teacherChecksum}.");
            }
        }
        string[] missing = [.. (layers ?? []).Where(l => manifest.Layers.All(c => c.Layer != l))];
        if (missing.Length > 0)
        {
            throw new InvalidDataException(
                $"{metadata}: the cache stores layer(s) [{string.Join(", ", manifest.Layers.Select(l => l.Layer))}], not {string.Join(", ", missing)} that the loss reads; write it with --features {string.Join(",", manifest.Layers.Select(l => l.Layer).Concat(missing))}.");
        }
        if (manifest.TopK is int k && (k < 1 || k > manifest.Classes))
            throw new InvalidDataException($"{metadata}: topK {k} is not within 1 to the {manifest.Classes} classes.");

        var reader = new TeacherCacheReader(directory, manifest, memoryBudgetBytes, layers ?? []);
        try
        {
            reader.OpenFiles();
            return reader;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Copies the logits [B, C] of the examples <paramref name="indices"/> into <paramref name="target"/>.</summary>
    /// <param name="indices">Example indices.</param>
    /// <param name="target">B x C values, row-major.</param>
    public void ReadLogits(IReadOnlyList<int> indices, Span<float> target) => Read(indices, null, target);

    /// <summary>Copies layer <paramref name="layer"/>'s values of the examples <paramref name="indices"/> into <paramref name="target"/>.</summary>
    /// <param name="indices">Example indices.</param>
    /// <param name="layer">A stored layer.</param>
    /// <param name="target">B x (one example's size) values, row-major.</param>
    public void ReadLayer(IReadOnlyList<int> indices, string layer, Span<float> target) => Read(indices, layer, target);

    private void Read(IReadOnlyList<int> indices, string? layer, Span<float> target)
    {
        ArgumentNullException.ThrowIfNull(indices);
        int width = layer is null ? Manifest.Classes : Width(Manifest.Layers.First(l => l.Layer == layer).Shape);
        if (target.Length != (long)indices.Count * width)
            throw new ArgumentException($"Expected {indices.Count} x {width} values; got {target.Length}.", nameof(target));
        for (int i = 0; i < indices.Count; i++)
        {
            int index = indices[i];
            if ((uint)index >= (uint)Manifest.DatasetCount)
                throw new ArgumentOutOfRangeException(nameof(indices), index, $"The cache holds examples 0 to {Manifest.DatasetCount - 1}.");
            DecodedGroup group = Group(FindGroup(index));
            float[] source = layer is null ? group.Logits
                : group.Layers.TryGetValue(layer, out float[]? values) ? values
                : throw new ArgumentException($"Layer '{layer}' was not asked for when the cache was opened.", nameof(layer));
            source.AsSpan((index - group.FirstIndex) * width, width).CopyTo(target.Slice(i * width, width));
        }
    }

    private int FindGroup(int index)
    {
        int lo = 0, hi = groups.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (groups[mid].FirstIndex <= index) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    private DecodedGroup Group(int number)
    {
        if (decoded.TryGetValue(number, out LinkedListNode<DecodedGroup>? node))
        {
            recentlyUsed.Remove(node);
            recentlyUsed.AddFirst(node);
            return node.Value;
        }
        DecodedGroup group = Decode(number);
        RowGroupsDecoded++;
        // Room for the new group first; a group larger than the budget alone is still decoded (and kept alone).
        while (recentlyUsed.Last is not null && decodedBytes + group.Bytes > memoryBudgetBytes)
        {
            DecodedGroup evicted = recentlyUsed.Last.Value;
            recentlyUsed.RemoveLast();
            decoded.Remove(evicted.Number);
            decodedBytes -= evicted.Bytes;
        }
        decoded[number] = recentlyUsed.AddFirst(group);
        decodedBytes += group.Bytes;
        return group;
    }

    private void OpenFiles()
    {
        int expectedFirst = 0;
        for (int f = 0; f < Manifest.Files.Count; f++)
        {
            CachedFile file = Manifest.Files[f];
            string path = Path.Combine(directory, file.Name);
            if (!File.Exists(path)) throw new InvalidDataException($"{path}: missing (listed in {TeacherCacheManifest.FileName}).");
            long bytes = new FileInfo(path).Length;
            if (bytes != file.Bytes)
            {
                throw new InvalidDataException(
                    $"{path}: {bytes:N0} bytes where {TeacherCacheManifest.FileName} lists {file.Bytes:N0}: the file is {(bytes < file.Bytes ? "truncated" : "not the one written")}.");
            }
            if (file.FirstIndex != expectedFirst)
                throw new InvalidDataException($"{path}: starts at example {file.FirstIndex}, where the files before it end at {expectedFirst}: files must hold consecutive examples in order.");
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            ParquetReader reader;
            try
            {
                reader = ParquetReader.CreateAsync(stream).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException or InvalidOperationException)
            {
                stream.Dispose();
                throw new InvalidDataException($"{path}: not a readable Parquet file ({e.Message}).", e);
            }
            files.Add((stream, reader));
            foreach (string column in RequiredColumns()) Column(f, column);
            int first = file.FirstIndex;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using ParquetRowGroupReader group = reader.OpenRowGroupReader(g);
                groups.Add(new GroupLocation(f, g, first, checked((int)group.RowCount)));
                first += (int)group.RowCount;
            }
            if (first - file.FirstIndex != file.Rows)
                throw new InvalidDataException($"{path}: {first - file.FirstIndex} rows where {TeacherCacheManifest.FileName} lists {file.Rows}.");
            expectedFirst = first;
        }
        if (expectedFirst != Manifest.DatasetCount)
        {
            throw new InvalidDataException(
                $"{Path.Combine(directory, TeacherCacheManifest.FileName)}: its files hold {expectedFirst} rows, the dataset has {Manifest.DatasetCount} examples.");
        }
    }

    private IEnumerable<string> RequiredColumns()
    {
        yield return TeacherCacheWriter.IndexColumn;
        yield return TeacherCacheWriter.LogitsColumn;
        if (Manifest.TopK is not null)
        {
            yield return TeacherCacheWriter.ClassesColumn;
            yield return TeacherCacheWriter.LogSumExpColumn;
        }
        foreach (CachedLayer layer in Manifest.Layers) yield return layer.Column;
    }

    /// <summary>The leaf field of top-level column <paramref name="name"/> (a list's element).</summary>
    private DataField Column(int file, string name)
    {
        ParquetSchema schema = files[file].Reader.Schema;
        Field? field = schema.Fields.FirstOrDefault(x => x.Name == name);
        DataField? data = field switch
        {
            ListField list => list.Item as DataField,
            DataField plain => plain,
            _ => null,
        };
        if (data is null)
        {
            throw new InvalidDataException(
                $"{Path.Combine(directory, Manifest.Files[file].Name)}: no column '{name}' (it has {string.Join(", ", schema.Fields.Select(x => x.Name))}).");
        }
        return data;
    }

    private DecodedGroup Decode(int number)
    {
        GroupLocation at = groups[number];
        string path = Path.Combine(directory, Manifest.Files[at.File].Name);
        using ParquetRowGroupReader group = files[at.File].Reader.OpenRowGroupReader(at.Group);
        int[] index = ReadColumn<int>(group, at, TeacherCacheWriter.IndexColumn, 1);
        for (int r = 0; r < at.Rows; r++)
        {
            if (index[r] != at.FirstIndex + r)
                throw new InvalidDataException($"{path}: row group {at.Group}, row {r} holds example {index[r]} where {at.FirstIndex + r} was expected: rows must be in index order.");
        }
        int classes = Manifest.Classes;
        float[] logits;
        if (Manifest.TopK is not int k)
        {
            logits = ReadColumn<float>(group, at, TeacherCacheWriter.LogitsColumn, classes);
        }
        else
        {
            float[] top = ReadColumn<float>(group, at, TeacherCacheWriter.LogitsColumn, k);
            int[] ids = ReadColumn<int>(group, at, TeacherCacheWriter.ClassesColumn, k);
            float[] lse = ReadColumn<float>(group, at, TeacherCacheWriter.LogSumExpColumn, 1);
            logits = new float[at.Rows * classes];
            for (int r = 0; r < at.Rows; r++)
            {
                double kept = 0;
                for (int j = 0; j < k; j++) kept += Math.Exp(top[(r * k) + j] - lse[r]);
                // The classes not stored share what the stored ones leave (floored: rounding can leave nothing).
                float rest = k == classes ? float.NegativeInfinity : (float)(lse[r] + Math.Log(Math.Max(1 - kept, 1e-12) / (classes - k)));
                Span<float> row = logits.AsSpan(r * classes, classes);
                row.Fill(rest);
                for (int j = 0; j < k; j++)
                {
                    int c = ids[(r * k) + j];
                    if ((uint)c >= (uint)classes)
                        throw new InvalidDataException($"{path}: row group {at.Group}, row {r}: class id {c} is not within 0 to {classes - 1}.");
                    row[c] = top[(r * k) + j];
                }
            }
        }
        var layers = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (CachedLayer layer in Manifest.Layers.Where(l => wantedLayers.Contains(l.Layer)))
            layers[layer.Layer] = ReadColumn<float>(group, at, layer.Column, Width(layer.Shape));
        return new DecodedGroup(number, at.FirstIndex, logits, layers);
    }

    /// <summary>Reads a column of <paramref name="width"/> values per row and checks that it has exactly that.</summary>
    private T[] ReadColumn<T>(ParquetRowGroupReader group, GroupLocation at, string name, int width)
        where T : struct
    {
        DataField field = Column(at.File, name);
        string path = Path.Combine(directory, Manifest.Files[at.File].Name);
        if (field.ClrType != typeof(T))
            throw new InvalidDataException($"{path}: column '{name}' holds {field.ClrType.Name}, expected {typeof(T).Name}.");
        // The column chunk's value count (from its metadata) must be the rows times the width before anything is read.
        long count = group.GetMetadata(field)?.MetaData?.NumValues ?? -1;
        if (count != (long)at.Rows * width)
        {
            throw new InvalidDataException(
                $"{path}: row group {at.Group}, column '{name}': {count} values for {at.Rows} rows, expected {width} per row ({at.Rows * width}).");
        }
        int n = at.Rows * width;
        var values = new T[n];
        int[] definition = new int[n], repetition = new int[n];
        group.ReadRawAsync<T>(field, values, definition, repetition, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        // Every value present (no nulls), and with a list a new row every width values.
        for (int i = 0; i < n; i++)
        {
            bool present = definition[i] == field.MaxDefinitionLevel;
            bool aligned = (repetition[i] == 0) == (i % width == 0);
            if (!present || !aligned)
            {
                throw new InvalidDataException(
                    $"{path}: row group {at.Group}, column '{name}': row {i / width} {(present ? "does not have" : "has a null among")} its {width} values.");
            }
        }
        return values;
    }

    private static int Width(long[] shape) => checked((int)shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Closes the files.</summary>
    public void Dispose()
    {
        foreach ((FileStream stream, ParquetReader reader) in files)
        {
            reader.DisposeAsync().AsTask().GetAwaiter().GetResult();
            stream.Dispose();
        }
        files.Clear();
        decoded.Clear();
        recentlyUsed.Clear();
    }

    private sealed record GroupLocation(int File, int Group, int FirstIndex, int Rows);

    private sealed record DecodedGroup(int Number, int FirstIndex, float[] Logits, Dictionary<string, float[]> Layers)
    {
        public long Bytes { get; } = ((long)Logits.Length + Layers.Values.Sum(v => (long)v.Length)) * sizeof(float);
    }
}
