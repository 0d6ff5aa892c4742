using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Training;
using Parquet;
using Parquet.Schema;
using static TorchSharp.torch;

namespace GpuDistill.Caching;

/// <summary>What <see cref="TeacherCacheWriter.Write"/> stores and how it lays the files out.</summary>
public sealed record TeacherCacheOptions
{
    /// <summary>Teacher layers (module paths) to store beside the logits; none by default.</summary>
    public IReadOnlyList<string> Layers { get; init; } = [];

    /// <summary>Store only the K largest logits of each example (with their class ids); null for all of them.</summary>
    public int? TopK { get; init; }

    /// <summary>Rows per Parquet row group, the unit a reader decodes at once (default 4096).</summary>
    public int RowGroupRows { get; init; } = 4096;

    /// <summary>Rows per Parquet file (default 65536).</summary>
    public int FileRows { get; init; } = 65536;
}

/// <summary>
/// Runs a teacher once over a dataset (eval mode, no gradient, no augmentation) and writes its outputs as Parquet
/// files plus <see cref="TeacherCacheManifest.FileName"/>; the schema is in docs/teacher-cache.md.
/// </summary>
public static class TeacherCacheWriter
{
    /// <summary>Parquet column: the example's index in the dataset (int32).</summary>
    public const string IndexColumn = "index";

    /// <summary>Parquet column: the logits (list of float32: all C, or the top K in descending order).</summary>
    public const string LogitsColumn = "logits";

    /// <summary>Parquet column with top-K: the class ids of the stored logits (list of int32).</summary>
    public const string ClassesColumn = "classes";

    /// <summary>Parquet column with top-K: log-sum-exp of all C logits of the row (float32).</summary>
    public const string LogSumExpColumn = "logsumexp";

    /// <summary>Writes the cache of <paramref name="teacher"/> over <paramref name="dataset"/> into <paramref name="directory"/>.</summary>
    /// <param name="teacher">The trained teacher.</param>
    /// <param name="dataset">The dataset (the training set a student will be distilled on).</param>
    /// <param name="directory">The cache directory (created; existing cache files are replaced).</param>
    /// <param name="options">What to store.</param>
    /// <returns>The manifest written.</returns>
    public static TeacherCacheManifest Write(DistillModel teacher, ImageDataset dataset, string directory, TeacherCacheOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        options ??= new TeacherCacheOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RowGroupRows, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.FileRows, 1, nameof(options));
        if (options.TopK is int k && (k < 1 || k > dataset.ClassCount))
            throw new ArgumentOutOfRangeException(nameof(options), k, $"TopK must be 1 to the {dataset.ClassCount} classes.");
        Directory.CreateDirectory(directory);

        teacher.eval();
        using var noGrad = no_grad();
        using var capture = options.Layers.Count > 0 ? new FeatureCapture(teacher, options.Layers) : null;
        var layers = new List<CachedLayer>();
        var files = new List<CachedFile>();
        var chunk = new Chunk(dataset.ClassCount, options.TopK);
        ParquetSchema? schema = null;
        FileSink? sink = null;
        try
        {
            int done = 0;
            foreach (ImageBatch batch in new ImageBatcher(dataset, Math.Min(Evaluation.InferenceBatchSize, options.RowGroupRows)).Epoch(0))
            {
                using (batch)
                using (NewDisposeScope())
                {
                    chunk.AddLogits(teacher.ForwardLogits(batch.Images));
                    if (capture is not null)
                    {
                        if (layers.Count == 0)
                        {
                            int column = 0;
                            foreach (string layer in capture.Layers)
                                layers.Add(new CachedLayer(layer, $"layer{column++}", [.. capture[layer].shape.Skip(1)]));
                        }
                        foreach (CachedLayer layer in layers) chunk.AddFeature(layer.Column, capture[layer.Layer]);
                        capture.Clear();
                    }
                    chunk.Rows += batch.Count;
                    done += batch.Count;
                }
                // Row groups of RowGroupRows rows, files of FileRows rows (the last ones shorter).
                while (chunk.Rows >= options.RowGroupRows || (done == dataset.Count && chunk.Rows > 0))
                {
                    schema ??= Schema(options.TopK is not null, layers);
                    sink ??= FileSink.Open(directory, files.Count, schema, done - chunk.Rows);
                    int rows = Math.Min(Math.Min(chunk.Rows, options.RowGroupRows), options.FileRows - sink.Rows);
                    sink.WriteRowGroup(chunk, rows, layers);
                    if (sink.Rows == options.FileRows || (done == dataset.Count && chunk.Rows == 0))
                    {
                        files.Add(sink.Close());
                        sink = null;
                    }
                }
            }
        }
        finally
        {
            sink?.Dispose();
        }

        var manifest = new TeacherCacheManifest
        {
            TeacherArchitecture = teacher.Architecture,
            TeacherChecksum = ModelChecksum.Of(teacher),
            DatasetSource = dataset.Source,
            DatasetCount = dataset.Count,
            DatasetChecksum = DatasetChecksum.Of(dataset),
            Classes = dataset.ClassCount,
            TopK = options.TopK,
            Layers = layers,
            Files = files,
        };
        AtomicFile.WriteAllText(Path.Combine(directory, TeacherCacheManifest.FileName), manifest.ToJson());
        return manifest;
    }

    private static ParquetSchema Schema(bool topK, IReadOnlyList<CachedLayer> layers)
    {
        var fields = new List<Field> { new DataField<int>(IndexColumn), new ListField(LogitsColumn, new DataField<float>("element")) };
        if (topK)
        {
            fields.Add(new ListField(ClassesColumn, new DataField<int>("element")));
            fields.Add(new DataField<float>(LogSumExpColumn));
        }
        fields.AddRange(layers.Select(l => new ListField(l.Column, new DataField<float>("element"))));
        return new ParquetSchema(fields);
    }

    /// <summary>Rows computed but not yet written, as flat row-major arrays.</summary>
    private sealed class Chunk(int classes, int? topK)
    {
        public List<float> Logits { get; } = [];
        public List<int> Classes { get; } = [];
        public List<float> LogSumExp { get; } = [];
        public Dictionary<string, List<float>> Features { get; } = [];
        public int Rows { get; set; }
        public int LogitWidth => topK ?? classes;

        public void AddLogits(Tensor logits)
        {
            if (topK is not int k)
            {
                Logits.AddRange(Values(logits));
                return;
            }
            (Tensor values, Tensor ids) = logits.topk(k, dim: 1, largest: true, sorted: true);
            Logits.AddRange(Values(values));
            using Tensor ids32 = ids.to_type(ScalarType.Int32).contiguous();
            Classes.AddRange(MemoryMarshal.Cast<byte, int>(ids32.bytes).ToArray());
            LogSumExp.AddRange(Values(logits.logsumexp(1)));
        }

        public void AddFeature(string column, Tensor values)
        {
            if (!Features.TryGetValue(column, out List<float>? list)) Features[column] = list = [];
            list.AddRange(Values(values));
        }

        public static float[] Values(Tensor t)
        {
            using Tensor dense = t.to_type(ScalarType.Float32).contiguous();
            return MemoryMarshal.Cast<byte, float>(dense.bytes).ToArray();
        }

        /// <summary>Removes the first <paramref name="rows"/> rows of a flat list of <paramref name="width"/> values each and returns them.</summary>
        public static T[] Take<T>(List<T> list, int rows, int width)
        {
            T[] taken = [.. list.GetRange(0, rows * width)];
            list.RemoveRange(0, rows * width);
            return taken;
        }
    }

    /// <summary>One Parquet file being written.</summary>
    private sealed class FileSink : IDisposable
    {
        private readonly FileStream stream;
        private readonly ParquetWriter writer;
        private readonly ParquetSchema schema;
        private readonly string name;
        private readonly int firstIndex;

        private FileSink(FileStream stream, ParquetWriter writer, ParquetSchema schema, string name, int firstIndex)
        {
            this.stream = stream;
            this.writer = writer;
            this.schema = schema;
            this.name = name;
            this.firstIndex = firstIndex;
        }

        public int Rows { get; private set; }

        public static FileSink Open(string directory, int number, ParquetSchema schema, int firstIndex)
        {
            string name = $"part-{number:D5}.parquet";
            var stream = new FileStream(Path.Combine(directory, name), FileMode.Create, FileAccess.ReadWrite);
            ParquetWriter writer = ParquetWriter.CreateAsync(schema, stream).GetAwaiter().GetResult();
            writer.CustomMetadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["gpudistill.format"] = TeacherCacheManifest.CurrentFormat };
            return new FileSink(stream, writer, schema, name, firstIndex);
        }

        public void WriteRowGroup(Chunk chunk, int rows, IReadOnlyList<CachedLayer> layers)
        {
            using ParquetRowGroupWriter group = writer.CreateRowGroup();
            int[] indices = [.. Enumerable.Range(firstIndex + Rows, rows)];
            group.WriteAsync<int>(schema.DataFields[0], indices).GetAwaiter().GetResult();
            int column = 1;
            WriteList(group, schema.DataFields[column++], Chunk.Take(chunk.Logits, rows, chunk.LogitWidth), rows);
            if (chunk.Classes.Count > 0 || chunk.LogSumExp.Count > 0)
            {
                WriteList(group, schema.DataFields[column++], Chunk.Take(chunk.Classes, rows, chunk.LogitWidth), rows);
                group.WriteAsync<float>(schema.DataFields[column++], Chunk.Take(chunk.LogSumExp, rows, 1)).GetAwaiter().GetResult();
            }
            foreach (CachedLayer layer in layers)
            {
                int width = (int)layer.Shape.Aggregate(1L, (a, b) => a * b);
                WriteList(group, schema.DataFields[column++], Chunk.Take(chunk.Features[layer.Column], rows, width), rows);
            }
            group.CompleteValidate();
            chunk.Rows -= rows;
            Rows += rows;
        }

        /// <summary>A list column of equal-length lists: repetition level 0 starts a row, 1 continues it; every
        /// value is present (the leaf's highest definition level).</summary>
        private static void WriteList<T>(ParquetRowGroupWriter group, DataField field, T[] values, int rows)
            where T : struct
        {
            int width = values.Length / rows;
            int[] repetition = new int[values.Length];
            for (int i = 0; i < values.Length; i++) repetition[i] = i % width == 0 ? 0 : 1;
            int[] definition = new int[values.Length];
            Array.Fill(definition, field.MaxDefinitionLevel);
            group.WriteAllPartsAsync<T>(field, values, definition, repetition, CancellationToken.None).GetAwaiter().GetResult();
        }

        public CachedFile Close()
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            stream.Flush(flushToDisk: true);
            long bytes = stream.Length;
            stream.Dispose();
            return new CachedFile(name, bytes, firstIndex, Rows);
        }

        public void Dispose()
        {
            writer.DisposeAsync().AsTask().GetAwaiter().GetResult();
            stream.Dispose();
        }
    }
}
