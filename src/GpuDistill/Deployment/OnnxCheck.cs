using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Deployment;

/// <summary>
/// An exported file run in ONNX Runtime next to the model it came from, over a labelled dataset: how often their
/// top-1 classes agree, how far their logits drift apart, and each one's accuracy (issue 17's proof of an export:
/// agreement for the float file, accuracy within a few tenths of a point for the int8 QDQ file).
/// </summary>
/// <param name="Images">Images compared.</param>
/// <param name="Agreement">Share of images whose top-1 class is the same in both.</param>
/// <param name="MaxLogitDifference">Largest |ONNX Runtime logit - TorchSharp logit|.</param>
/// <param name="TorchAccuracy">TorchSharp's accuracy on the labels.</param>
/// <param name="OnnxAccuracy">ONNX Runtime's accuracy on the labels.</param>
public sealed record OnnxCheck(int Images, double Agreement, double MaxLogitDifference, double TorchAccuracy, double OnnxAccuracy)
{
    /// <summary>Runs <paramref name="model"/> (in eval mode) and the file at <paramref name="path"/> over <paramref name="data"/>.</summary>
    /// <param name="model">The model the file was exported from.</param>
    /// <param name="path">The .onnx file.</param>
    /// <param name="data">Labelled images, e.g. the test set.</param>
    /// <returns>The comparison.</returns>
    public static OnnxCheck Run(DistillModel model, string path, ImageDataset data)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        if (data.Count == 0) throw new ArgumentException("The dataset to check an export on has no images.", nameof(data));
        using var runner = new OnnxRunner(path);
        bool wasTraining = model.training;
        model.eval();
        long agree = 0, torchCorrect = 0, onnxCorrect = 0;
        double maxDifference = 0;
        try
        {
            foreach (ImageBatch batch in new ImageBatcher(data, 256).Epoch(0))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    Tensor expected = model.ForwardLogits(batch.Images);
                    Tensor actual = runner.Run(batch.Images);
                    Tensor torchClass = expected.argmax(1), onnxClass = actual.argmax(1);
                    agree += onnxClass.eq(torchClass).sum().item<long>();
                    torchCorrect += torchClass.eq(batch.Labels).sum().item<long>();
                    onnxCorrect += onnxClass.eq(batch.Labels).sum().item<long>();
                    maxDifference = Math.Max(maxDifference, actual.sub(expected).abs().max().item<float>());
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }
        double n = data.Count;
        return new OnnxCheck(data.Count, agree / n, maxDifference, torchCorrect / n, onnxCorrect / n);
    }
}
