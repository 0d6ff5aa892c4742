using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>What a network outputs on a dataset (eval mode, no gradient): logits, pooled features and the labels.</summary>
/// <param name="Logits">Logits, row-major [N, C].</param>
/// <param name="Features">The pooled embedding of each image.</param>
/// <param name="Labels">The labels.</param>
/// <param name="Classes">C.</param>
internal sealed record NetworkPass(float[] Logits, float[][] Features, int[] Labels, int Classes)
{
    /// <summary>Runs <paramref name="network"/> over <paramref name="data"/> (horizontally flipped images when
    /// <paramref name="flip"/>); restores the network's mode.</summary>
    public static NetworkPass Run(DistillModel network, ImageDataset data, bool flip = false)
    {
        bool wasTraining = network.training;
        network.eval();
        var logits = new List<float>(data.Count * DistillModel.ClassCount);
        var features = new List<float[]>(data.Count);
        int classes = 0;
        using (no_grad())
        {
            foreach (ImageBatch batch in new ImageBatcher(data, Training.Evaluation.InferenceBatchSize).Epoch(0))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    using ModelOutput output = network.Forward(flip ? batch.Images.flip(3) : batch.Images);
                    classes = (int)output.Logits.shape[1];
                    logits.AddRange(Values(output.Logits));
                    float[] pooled = Values(output.Pooled);
                    int d = (int)output.Pooled.shape[1];
                    for (int i = 0; i < batch.Count; i++) features.Add(pooled[(i * d)..((i + 1) * d)]);
                }
            }
        }
        network.train(wasTraining);
        int[] labels = new int[data.Count];
        for (int i = 0; i < labels.Length; i++) labels[i] = data.Label(i);
        return new NetworkPass([.. logits], [.. features], labels, classes);
    }

    /// <summary>Accuracy of the argmax of the logits among <paramref name="candidates"/> only.</summary>
    public double OutputAccuracy(IReadOnlyList<int> candidates)
    {
        int correct = 0;
        for (int i = 0; i < Labels.Length; i++)
        {
            int best = candidates[0];
            foreach (int c in candidates)
            {
                if (Logits[i * Classes + c] > Logits[i * Classes + best]) best = c;
            }
            if (best == Labels[i]) correct++;
        }
        return correct / (double)Labels.Length;
    }

    /// <summary>
    /// Accuracy of iCaRL's nearest-mean-of-exemplars classifier among <paramref name="candidates"/>: argmin over y of
    /// ||phi(x)/||phi(x)|| - mu_y||^2, with <paramref name="means"/> the normalised class means; NaN when a candidate
    /// has no mean yet.
    /// </summary>
    public double NearestMeanAccuracy(IReadOnlyDictionary<int, double[]> means, IReadOnlyList<int> candidates)
    {
        if (candidates.Any(c => !means.ContainsKey(c))) return double.NaN;
        int correct = 0;
        for (int i = 0; i < Labels.Length; i++)
        {
            double[] x = Normalised(Features[i]);
            int best = candidates[0];
            double bestDistance = double.PositiveInfinity;
            foreach (int c in candidates)
            {
                double distance = 0;
                double[] mu = means[c];
                for (int k = 0; k < x.Length; k++) distance += (x[k] - mu[k]) * (x[k] - mu[k]);
                if (distance < bestDistance)
                {
                    bestDistance = distance;
                    best = c;
                }
            }
            if (best == Labels[i]) correct++;
        }
        return correct / (double)Labels.Length;
    }

    /// <summary>v / ||v|| (a zero vector stays 0).</summary>
    public static double[] Normalised(IReadOnlyList<float> v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return [.. v.Select(x => norm > 0 ? x / norm : 0.0)];
    }

    private static float[] Values(Tensor t)
    {
        using Tensor dense = t.contiguous();
        return MemoryMarshal.Cast<byte, float>(dense.bytes).ToArray();
    }
}
