using GpuDistill.Data;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// Real batches with a generator's images appended (adversarial distillation with real data): each batch is a real
/// batch followed by one generated batch. The generated rows are labelled <see cref="IgnoredLabel"/>, so hard-label
/// terms (cross-entropy) read the real rows only, while teacher-student terms read all of them. The generated rows have
/// no dataset index, so the teacher's logits cannot all come from a cache: with <paramref name="realTeacher"/> cached
/// (un-augmented batches), the batch carries the cached logits of its real rows followed by those the generator's
/// source already computed for its rows, and the teacher runs on the generated rows only; otherwise it runs live on the
/// whole batch. The generator's state is checkpointed with the run.
/// </summary>
/// <param name="real">The real batches (e.g. an <see cref="ImageBatcher"/> over the training set).</param>
/// <param name="generated">The generator's batches; at least as many per epoch as <paramref name="real"/> has.</param>
/// <param name="realTeacher">The teacher's outputs on the training set the real batches come from, or null.</param>
public sealed class MixedBatchSource(IBatchSource real, GeneratorBatchSource generated, TeacherOutputs? realTeacher = null)
    : ICheckpointedSource
{
    /// <summary>The label of a generated row: PyTorch's ignore index, which cross-entropy skips.</summary>
    public const long IgnoredLabel = -100;

    /// <inheritdoc/>
    public int BatchCount => real.BatchCount;

    /// <inheritdoc/>
    public IEnumerable<ImageBatch> Epoch(int epoch)
    {
        ArgumentNullException.ThrowIfNull(real);
        ArgumentNullException.ThrowIfNull(generated);
        if (generated.BatchCount < real.BatchCount)
            throw new InvalidOperationException($"The generator makes {generated.BatchCount} batches per epoch; the real data has {real.BatchCount}.");
        using IEnumerator<ImageBatch> made = generated.Epoch(epoch).GetEnumerator();
        foreach (ImageBatch batch in real.Epoch(epoch))
        {
            if (!made.MoveNext()) throw new InvalidOperationException("The generator's epoch ended before the real data's.");
            using (batch)
            using (ImageBatch fake = made.Current)
            {
                Tensor images = cat([batch.Images, fake.Images], 0);
                Tensor labels = cat([batch.Labels, full([fake.Count], IgnoredLabel, ScalarType.Int64)], 0);
                yield return new ImageBatch(images, labels, [.. batch.Indices, .. fake.Indices], TeacherLogits(batch, fake));
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> Save(string directory, string prefix) => generated.Save(directory, prefix);

    /// <inheritdoc/>
    public void Load(string directory, IReadOnlyList<string> files) => generated.Load(directory, files);

    /// <summary>The teacher's logits on the mixed batch from the cache and the generator's pass; null (the teacher
    /// runs live) when either is missing.</summary>
    private TeacherPass? TeacherLogits(ImageBatch realBatch, ImageBatch fake)
    {
        if (realTeacher is not { IsCached: true } || fake.TeacherPass is not { } made || !ReferenceEquals(made.Teacher, realTeacher.Model))
            return null;
        using var scope = NewDisposeScope();
        Tensor logits = cat([realTeacher.Get(realBatch).Logits, made.Logits], 0);
        return new TeacherPass(made.Teacher, logits.MoveToOuterDisposeScope());
    }
}
