using GpuDistill.Data;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>
/// Real batches with a generator's images appended (adversarial distillation with real data): each batch is a real
/// batch followed by one generated batch. The generated rows are labelled <see cref="IgnoredLabel"/>, so hard-label
/// terms (cross-entropy) read the real rows only, while teacher-student terms read all of them; the teacher must run
/// live (the generated rows have no dataset index). The generator's state is checkpointed with the run.
/// </summary>
/// <param name="real">The real batches (e.g. an <see cref="ImageBatcher"/> over the training set).</param>
/// <param name="generated">The generator's batches; at least as many per epoch as <paramref name="real"/> has.</param>
public sealed class MixedBatchSource(IBatchSource real, GeneratorBatchSource generated) : ICheckpointedSource
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
                yield return new ImageBatch(images, labels, [.. batch.Indices, .. fake.Indices]);
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<string> Save(string directory, string prefix) => generated.Save(directory, prefix);

    /// <inheritdoc/>
    public void Load(string directory, IReadOnlyList<string> files) => generated.Load(directory, files);
}
