using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>Test-set accuracy.</summary>
public static class Evaluation
{
    /// <summary>
    /// Images per forward pass of every inference pass over a dataset (test accuracy, teacher outputs, diagnostics).
    /// Larger batches are slower on libtorch's CPU convolutions once the activations leave the cache: a teacher-cnn
    /// pass over 10,000 images took 3.1 s at 128, 6.6 s at 256, 17 s at 500 and 22 s at 1,000 (AMD EPYC, 2 cores,
    /// quiet; small-cnn 0.53 s at 128 against 2.0 s at 1,000).
    /// </summary>
    public const int InferenceBatchSize = 128;

    /// <summary>Top-1 accuracy of <paramref name="model"/> on <paramref name="data"/>, in eval mode; restores the mode.</summary>
    public static double Accuracy(DistillModel model, ImageDataset data, int batchSize = InferenceBatchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.training;
        model.eval();
        double accuracy = Accuracies(data, images => [model.ForwardLogits(images)], batchSize)[0];
        model.train(wasTraining);
        return accuracy;
    }

    /// <summary>
    /// Top-1 accuracy of each prediction head on <paramref name="data"/>: <paramref name="heads"/> maps a batch of
    /// images to one logits tensor per head, always as many; it runs without autograd, and the caller sets the modes.
    /// </summary>
    /// <param name="data">The images.</param>
    /// <param name="heads">Logits [B, C] per head for a batch of images.</param>
    /// <param name="batchSize">Images per batch.</param>
    /// <returns>One accuracy per head, in [0, 1].</returns>
    public static double[] Accuracies(ImageDataset data, Func<Tensor, IReadOnlyList<Tensor>> heads, int batchSize = InferenceBatchSize)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(heads);
        long[] correct = [];
        using (no_grad())
        {
            foreach (ImageBatch batch in new ImageBatcher(data, batchSize).Epoch(0))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    IReadOnlyList<Tensor> logits = heads(batch.Images);
                    if (correct.Length == 0) correct = new long[logits.Count];
                    for (int h = 0; h < logits.Count; h++)
                        correct[h] += logits[h].argmax(1).eq(batch.Labels).sum().item<long>();
                }
            }
        }
        return [.. correct.Select(c => c / (double)data.Count)];
    }
}
