namespace GpuDistill.References;

/// <summary>
/// Float64 reference of DeepInversion's batch-norm statistics loss (loss-spec-2 7.2): per layer l, per channel c,
/// mu_c = mean over batch and space of its input a, var_c = the biased variance; R_l = ||var - var_run||_2 +
/// ||mu - mu_run||_2 (not squared); L = sum_l w_l R_l. Gradient dL/da = (w/N) (2 g_v,c (a - mu_c) + g_m,c) with
/// g = (stat - run) / max(norm, 1e-12).
/// </summary>
public static class BatchNormStatisticsReference
{
    /// <summary>One layer: its input [B, C, H*W] row-major, its running statistics [C] and weight.</summary>
    public sealed record Layer(double[] Input, int Batch, int Channels, int Spatial, double[] RunningMean,
        double[] RunningVariance, double Weight);

    public static (double Loss, double[][] Gradients) Compute(IReadOnlyList<Layer> layers)
    {
        double loss = 0;
        var gradients = new double[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            Layer layer = layers[l];
            (double[] mean, double[] variance) = Statistics(layer);
            double varianceNorm = 0, meanNorm = 0;
            for (int c = 0; c < layer.Channels; c++)
            {
                varianceNorm += Math.Pow(variance[c] - layer.RunningVariance[c], 2);
                meanNorm += Math.Pow(mean[c] - layer.RunningMean[c], 2);
            }
            varianceNorm = Math.Sqrt(varianceNorm);
            meanNorm = Math.Sqrt(meanNorm);
            loss += layer.Weight * (varianceNorm + meanNorm);

            int count = layer.Batch * layer.Spatial;
            var gradient = new double[layer.Input.Length];
            for (int c = 0; c < layer.Channels; c++)
            {
                double gv = (variance[c] - layer.RunningVariance[c]) / Math.Max(varianceNorm, 1e-12);
                double gm = (mean[c] - layer.RunningMean[c]) / Math.Max(meanNorm, 1e-12);
                foreach (int i in Indices(layer, c))
                    gradient[i] = layer.Weight / count * (2 * gv * (layer.Input[i] - mean[c]) + gm);
            }
            gradients[l] = gradient;
        }
        return (loss, gradients);
    }

    /// <summary>Per-channel mean and biased variance of a layer's input (two passes).</summary>
    public static (double[] Mean, double[] Variance) Statistics(Layer layer)
    {
        int count = layer.Batch * layer.Spatial;
        var mean = new double[layer.Channels];
        var variance = new double[layer.Channels];
        for (int c = 0; c < layer.Channels; c++)
        {
            foreach (int i in Indices(layer, c)) mean[c] += layer.Input[i];
            mean[c] /= count;
            foreach (int i in Indices(layer, c)) variance[c] += Math.Pow(layer.Input[i] - mean[c], 2);
            variance[c] /= count;
        }
        return (mean, variance);
    }

    /// <summary>The indices of channel <paramref name="channel"/>'s values in a layer's input.</summary>
    private static IEnumerable<int> Indices(Layer layer, int channel)
    {
        for (int b = 0; b < layer.Batch; b++)
        for (int s = 0; s < layer.Spatial; s++)
            yield return (b * layer.Channels + channel) * layer.Spatial + s;
    }
}
