using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// Runs models over a dataset in evaluation mode without autograd and gathers what the diagnostics read: logits, and
/// the features of chosen layers (captured by module path with <see cref="FeatureCapture"/>). Each model's mode is
/// restored afterwards.
/// </summary>
internal static class ModelPasses
{
    /// <summary>The logits of each model over <paramref name="data"/>, in its order: float32 [N, C] per model.</summary>
    /// <param name="models">The models (the same batches go through each).</param>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <returns>One tensor per model, owned by the caller (or its dispose scope).</returns>
    public static Tensor[] Logits(IReadOnlyList<DistillModel> models, ImageDataset data, int batchSize)
    {
        RequireImages(data);
        var parts = models.Select(_ => new List<Tensor>()).ToArray();
        InEvalMode(models, () =>
        {
            foreach (ImageBatch batch in new ImageBatcher(data, batchSize).Epoch(0))
            {
                using (batch)
                {
                    for (int m = 0; m < models.Count; m++)
                    {
                        using var scope = NewDisposeScope();
                        parts[m].Add(models[m].ForwardLogits(batch.Images).MoveToOuterDisposeScope());
                    }
                }
            }
        });
        return [.. parts.Select(Concatenate)];
    }

    /// <summary>
    /// The features of <paramref name="layers"/> of <paramref name="model"/> over <paramref name="data"/>, flattened
    /// per image: float32 [N, width] per layer, in data order.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="layers">Module paths (<see cref="LayerPath"/>), e.g. its FeatureLayers and EmbeddingLayer.</param>
    /// <param name="data">The images.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <returns>One tensor per layer, owned by the caller (or its dispose scope).</returns>
    public static Tensor[] Features(DistillModel model, IReadOnlyList<string> layers, ImageDataset data, int batchSize)
    {
        RequireImages(data);
        var parts = layers.Select(_ => new List<Tensor>()).ToArray();
        using var capture = new FeatureCapture(model, layers);
        InEvalMode([model], () =>
        {
            foreach (ImageBatch batch in new ImageBatcher(data, batchSize).Epoch(0))
            {
                using (batch)
                {
                    model.ForwardLogits(batch.Images).Dispose();
                    for (int l = 0; l < layers.Count; l++)
                    {
                        using var scope = NewDisposeScope();
                        // A copy: the capture's tensor is freed by Clear below.
                        parts[l].Add(capture[layers[l]].flatten(1).clone().MoveToOuterDisposeScope());
                    }
                    capture.Clear();
                }
            }
        });
        return [.. parts.Select(Concatenate)];
    }

    /// <summary>The dataset's labels as int64 [N].</summary>
    public static Tensor Labels(ImageDataset data)
    {
        var labels = new long[data.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = data.Label(i);
        return tensor(labels);
    }

    private static void RequireImages(ImageDataset data)
    {
        if (data.Count == 0) throw new ArgumentException("data holds no images.", nameof(data));
    }

    private static void InEvalMode(IReadOnlyList<DistillModel> models, Action run)
    {
        bool[] training = [.. models.Select(m => m.training)];
        foreach (DistillModel m in models) m.eval();
        try
        {
            using (no_grad()) run();
        }
        finally
        {
            for (int m = 0; m < models.Count; m++) models[m].train(training[m]);
        }
    }

    private static Tensor Concatenate(List<Tensor> parts)
    {
        Tensor all = cat(parts, 0);
        foreach (Tensor part in parts) part.Dispose();
        return all;
    }
}
