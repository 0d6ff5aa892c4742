using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Training;

/// <summary>Test-set accuracy.</summary>
public static class Evaluation
{
    /// <summary>Top-1 accuracy of <paramref name="model"/> on <paramref name="data"/>, in eval mode; restores the mode.</summary>
    public static double Accuracy(DistillModel model, ImageDataset data, int batchSize = 1000)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        bool wasTraining = model.training;
        model.eval();
        long correct = 0;
        using (no_grad())
        {
            foreach (ImageBatch batch in new ImageBatcher(data, batchSize).Epoch(0))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    Tensor predicted = model.ForwardLogits(batch.Images).argmax(1);
                    correct += predicted.eq(batch.Labels).sum().item<long>();
                }
            }
        }
        model.train(wasTraining);
        return correct / (double)data.Count;
    }
}
