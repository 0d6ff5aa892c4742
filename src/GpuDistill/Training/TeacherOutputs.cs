using System.Runtime.InteropServices;
using GpuDistill.Caching;
using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// The frozen teacher's outputs for a training batch: its logits and, for feature terms, the layers they read.
/// Without augmentation an image's outputs never change, so they are computed once for the whole training set (in
/// eval mode, without gradient, at the first batch asked for, so a run that never asks, such as the student alone,
/// never pays for them) and looked up by index, as long as they fit the cache budget; with augmentation, or beyond
/// the budget, the teacher runs on each batch as the student sees it.
/// </summary>
public sealed class TeacherOutputs : IDisposable
{
    /// <summary>Default cache budget: 6 GiB (the full Fashion-MNIST with every stage of the teacher CNN is ~3.8 GB).</summary>
    public const long DefaultCacheBudgetBytes = 6L << 30;

    private readonly Lazy<MemoryCache>? memoryCache;
    private FeatureCapture? pendingCapture;
    private readonly FeatureCapture? liveCapture;
    private readonly TeacherCacheReader? diskCache;
    private readonly int classes;
    private IReadOnlyList<TeacherOutputs> companions = [];

    private TeacherOutputs(DistillModel teacher, int classes, IReadOnlyDictionary<string, long[]> shapes,
        Func<MemoryCache>? precompute, FeatureCapture? liveCapture, TeacherCacheReader? diskCache = null)
    {
        this.diskCache = diskCache;
        Model = teacher;
        this.classes = classes;
        FeatureShapes = shapes;
        memoryCache = precompute is null ? null : new Lazy<MemoryCache>(precompute);
        this.liveCapture = liveCapture;
    }

    /// <summary>The teacher (eval mode, no gradients).</summary>
    public DistillModel Model { get; }

    /// <summary>Whether the outputs are computed once for the whole training set (in memory, or in a cache on disk).</summary>
    public bool IsCached => memoryCache is not null || diskCache is not null;

    /// <summary>Whether the in-memory outputs have been computed (at the first batch asked for).</summary>
    public bool IsComputed => memoryCache is { IsValueCreated: true };

    /// <summary>Computes the in-memory outputs now if they are cached and not yet computed (the trainer calls this
    /// before its epochs, so that the pass is not timed as a step's); nothing otherwise.</summary>
    public void EnsureComputed()
    {
        _ = memoryCache?.Value;
        foreach (TeacherOutputs companion in companions) companion.EnsureComputed();
    }

    /// <summary>The cache on disk the outputs are read from; null when they are computed here.</summary>
    public TeacherCacheReader? DiskCache => diskCache;

    /// <summary>The layers available to feature terms, with one sample's shape [1, ...] each.</summary>
    public IReadOnlyDictionary<string, long[]> FeatureShapes { get; }

    /// <summary>All teachers of a multi-teacher run, this one first (just this one otherwise).</summary>
    public IReadOnlyList<DistillModel> Models => [Model, .. companions.Select(c => c.Model)];

    /// <summary>
    /// Prepares the outputs of several teachers for <paramref name="train"/>: the first one's logits and layers as
    /// <see cref="Create"/> does, and every teacher's logits stacked [K, B, C] in <see cref="TeacherBatch.EnsembleLogits"/>.
    /// </summary>
    /// <param name="teachers">The trained teachers (K &gt;= 1); each is put in eval mode and never gets a gradient.</param>
    /// <param name="train">The training set.</param>
    /// <param name="cache">Compute everything now (only right when batches are not augmented).</param>
    /// <param name="layers">Layers of the first teacher that feature terms read.</param>
    /// <returns>The source of teacher outputs.</returns>
    public static TeacherOutputs CreateEnsemble(IReadOnlyList<DistillModel> teachers, ImageDataset train, bool cache,
        IReadOnlyCollection<string>? layers = null)
    {
        ArgumentNullException.ThrowIfNull(teachers);
        if (teachers.Count == 0) throw new ArgumentException("At least one teacher is needed.", nameof(teachers));
        TeacherOutputs first = Create(teachers[0], train, cache, layers);
        first.companions = [.. teachers.Skip(1).Select(t => Create(t, train, cache))];
        return first;
    }

    /// <summary>Prepares the teacher's outputs for <paramref name="train"/>.</summary>
    /// <param name="teacher">The trained teacher; it is put in eval mode and never gets a gradient.</param>
    /// <param name="train">The training set.</param>
    /// <param name="cache">Compute everything now (only right when batches are not augmented).</param>
    /// <param name="layers">Teacher layers (module paths) that feature terms read; none for logits only.</param>
    /// <param name="cacheBudgetBytes">Largest cache allowed; beyond it the teacher runs live.</param>
    /// <returns>The source of teacher outputs.</returns>
    public static TeacherOutputs Create(DistillModel teacher, ImageDataset train, bool cache,
        IReadOnlyCollection<string>? layers = null, long cacheBudgetBytes = DefaultCacheBudgetBytes)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(train);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        layers ??= [];
        var capture = layers.Count > 0 ? new FeatureCapture(teacher, layers) : null;
        try
        {
            IReadOnlyDictionary<string, long[]> shapes = capture is null ? new Dictionary<string, long[]>() : ProbeShapes(teacher, train, capture);
            long perImage = train.ClassCount + shapes.Values.Sum(s => s.Skip(1).Aggregate(1L, (a, b) => a * b));
            long total = perImage * train.Count;
            bool fits = total * sizeof(float) <= cacheBudgetBytes && shapes.Values.All(s => s.Skip(1).Aggregate(1L, (a, b) => a * b) * train.Count <= Array.MaxLength);
            if (!cache || !fits)
            {
                var live = new TeacherOutputs(teacher, train.ClassCount, shapes, null, capture);
                capture = null;
                return live;
            }
            FeatureCapture? precomputeCapture = capture;
            capture = null;
            return new TeacherOutputs(teacher, train.ClassCount, shapes, () => Precompute(teacher, train, shapes, precomputeCapture), null)
            {
                pendingCapture = precomputeCapture,
            };
        }
        finally
        {
            capture?.Dispose();
        }
    }

    /// <summary>
    /// The teacher's outputs read from a cache on disk written by <see cref="TeacherCacheWriter"/> (or any tool writing
    /// its schema, docs/teacher-cache.md) instead of running the teacher: row groups are decoded as batches need them
    /// and kept within <paramref name="memoryBudgetBytes"/>.
    /// </summary>
    /// <param name="teacher">The teacher the cache must come from (its checksum is compared); never run.</param>
    /// <param name="train">The training set the cache must be of (size and checksum are compared).</param>
    /// <param name="directory">The cache directory.</param>
    /// <param name="layers">Teacher layers that feature terms read; each must be stored.</param>
    /// <param name="memoryBudgetBytes">Most bytes of decoded row groups kept at once.</param>
    /// <returns>The source of teacher outputs.</returns>
    /// <exception cref="InvalidDataException">The cache does not match or is damaged; the message names the file.</exception>
    public static TeacherOutputs FromCache(DistillModel teacher, ImageDataset train, string directory,
        IReadOnlyCollection<string>? layers = null, long memoryBudgetBytes = TeacherCacheReader.DefaultMemoryBudgetBytes)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(train);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;
        string[] wanted = [.. (layers ?? []).Select(l => LayerPath.Parse(l).ToString()).Distinct()];
        TeacherCacheReader reader = TeacherCacheReader.Open(directory, train, teacher, wanted, memoryBudgetBytes);
        var shapes = reader.Manifest.Layers.Where(l => wanted.Contains(l.Layer))
            .ToDictionary(l => l.Layer, l => (long[])[1, .. l.Shape], StringComparer.Ordinal);
        return new TeacherOutputs(teacher, train.ClassCount, shapes, null, null, reader);
    }

    /// <summary>The teacher's logits [B, C] and captured layers for <paramref name="batch"/>, detached; they belong to
    /// the caller's dispose scope.</summary>
    public TeacherBatch Get(ImageBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (diskCache is not null) return WithEnsemble(ReadDiskCache(batch), batch);
        if (memoryCache is null)
        {
            // A source that ran this teacher on the batch already (a generator's) passes its logits along; with no
            // layers to capture there is nothing more to compute.
            if (batch.TeacherPass is { } pass && ReferenceEquals(pass.Teacher, Model) && liveCapture is null)
                return WithEnsemble(new TeacherBatch(pass.Logits.alias(), new Dictionary<string, Tensor>(StringComparer.Ordinal)), batch);
            using var noGrad = no_grad();
            Tensor logits = Model.ForwardLogits(batch.Images);
            var features = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            if (liveCapture is not null)
            {
                foreach (string layer in liveCapture.Layers) features[layer] = liveCapture[layer].alias();
                liveCapture.Clear();
            }
            return WithEnsemble(new TeacherBatch(logits, features), batch);
        }
        MemoryCache memory = memoryCache.Value;
        var cached = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string layer, float[] values) in memory.Features)
            cached[layer] = GatherRows(values, FeatureShapes[layer][1..], batch.Indices);
        return WithEnsemble(new TeacherBatch(GatherRows(memory.Logits, [classes], batch.Indices), cached) { Examples = new TeacherExamples(memory, batch.Indices) }, batch);
    }

    private TeacherBatch WithEnsemble(TeacherBatch own, ImageBatch batch) =>
        companions.Count == 0
            ? own
            : own with { EnsembleLogits = stack([own.Logits, .. companions.Select(c => c.Get(batch).Logits)]) };

    private TeacherBatch ReadDiskCache(ImageBatch batch)
    {
        Tensor logits = empty(batch.Count, classes);
        diskCache!.ReadLogits(batch.Indices, MemoryMarshal.Cast<byte, float>(logits.bytes));
        var features = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string layer, long[] shape) in FeatureShapes)
        {
            Tensor values = empty([batch.Count, .. shape.Skip(1)]);
            diskCache.ReadLayer(batch.Indices, layer, MemoryMarshal.Cast<byte, float>(values.bytes));
            features[layer] = values;
        }
        return new TeacherBatch(logits, features) { Examples = new TeacherExamples(diskCache, batch.Indices) };
    }

    /// <summary>The teacher's logits [B, C] for <paramref name="batch"/>, detached.</summary>
    public Tensor Logits(ImageBatch batch) => Get(batch).Logits;

    /// <summary>Removes the live capture's hooks from the teacher.</summary>
    public void Dispose()
    {
        // The precomputation removes its hooks; if it never ran, they are removed here.
        if (memoryCache is { IsValueCreated: false }) pendingCapture?.Dispose();
        liveCapture?.Dispose();
        diskCache?.Dispose();
        foreach (TeacherOutputs companion in companions) companion.Dispose();
    }

    private static Dictionary<string, long[]> ProbeShapes(DistillModel teacher, ImageDataset train, FeatureCapture capture)
    {
        using ImageBatch first = new ImageBatcher(train, 1).Epoch(0).First();
        return capture.Shapes(teacher, first.Images);
    }

    /// <summary>Runs the teacher over the whole training set once, then removes the capture's hooks.</summary>
    private static MemoryCache Precompute(DistillModel teacher, ImageDataset train, IReadOnlyDictionary<string, long[]> shapes, FeatureCapture? capture)
    {
        using FeatureCapture? owned = capture;
        var logits = new float[(long)train.Count * train.ClassCount];
        var features = shapes.ToDictionary(kv => kv.Key, kv => new float[SampleSize(kv.Value) * train.Count], StringComparer.Ordinal);
        using var noGrad = no_grad();
        int done = 0;
        foreach (ImageBatch batch in new ImageBatcher(train, Evaluation.InferenceBatchSize).Epoch(0))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                Copy(teacher.ForwardLogits(batch.Images), logits, (long)done * train.ClassCount);
                if (capture is not null)
                {
                    foreach ((string layer, float[] target) in features)
                        Copy(capture[layer], target, done * SampleSize(shapes[layer]));
                    capture.Clear();
                }
                done += batch.Count;
            }
        }
        return new MemoryCache(logits, features);
    }

    /// <summary>Every training image's logits and captured layers, flat, in the training set's order.</summary>
    private sealed record MemoryCache(float[] Logits, Dictionary<string, float[]> Features);

    private static void Copy(Tensor source, float[] target, long offset)
    {
        using Tensor dense = source.contiguous();
        ReadOnlySpan<float> values = MemoryMarshal.Cast<byte, float>(dense.bytes);
        values.CopyTo(target.AsSpan((int)offset, values.Length));
    }

    /// <summary>Rows <paramref name="indices"/> of <paramref name="rows"/> (flat, each of <paramref name="rowShape"/>) as
    /// a tensor [indices, ..rowShape]; also what <see cref="Methods.TeacherDerivedCache"/> gathers with.</summary>
    internal static Tensor GatherRows(float[] rows, long[] rowShape, IReadOnlyList<int> indices)
    {
        long size = rowShape.Aggregate(1L, (a, b) => a * b);
        // Copied straight into the tensor's native memory (no managed array per step: see ImageBatcher).
        Tensor gathered = empty([indices.Count, .. rowShape]);
        Span<float> target = MemoryMarshal.Cast<byte, float>(gathered.bytes);
        for (int i = 0; i < indices.Count; i++)
            rows.AsSpan((int)(indices[i] * size), (int)size).CopyTo(target.Slice((int)(i * size), (int)size));
        return gathered;
    }

    private static long SampleSize(long[] shape) => shape.Skip(1).Aggregate(1L, (a, b) => a * b);
}

/// <summary>The teacher's outputs for one batch.</summary>
/// <param name="Logits">Logits [B, C], detached.</param>
/// <param name="Features">Captured layers by path, detached.</param>
/// <param name="EnsembleLogits">Every teacher's logits [K, B, C], detached, when there are several; null otherwise.</param>
public sealed record TeacherBatch(Tensor Logits, IReadOnlyDictionary<string, Tensor> Features, Tensor? EnsembleLogits = null)
{
    /// <summary>Which training images these outputs belong to, when they were read from a cache (so that they are the
    /// same every time an image comes back); null when the teacher ran on the batch.</summary>
    public TeacherExamples? Examples { get; init; }
}

/// <summary>The training images of a batch whose teacher outputs come from a cache.</summary>
/// <param name="Cache">The cache they were read from (values derived from them are valid for it alone).</param>
/// <param name="Indices">Each row's index in the training set.</param>
public sealed record TeacherExamples(object Cache, IReadOnlyList<int> Indices);
