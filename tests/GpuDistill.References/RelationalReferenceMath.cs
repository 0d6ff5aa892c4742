namespace GpuDistill.References;

/// <summary>Float64 building blocks of the relation references, written plainly from the definitions.</summary>
public static class RelationalReferenceMath
{
    /// <summary>
    /// The largest Euclidean norm of a row of float32 features [B, D] (at least 1e-30): the scale relation gradients
    /// are measured against where the exact gradient vanishes.
    /// </summary>
    public static double MaxRowNorm(float[] features, int batch, int width)
    {
        double max = 1e-30;
        for (int i = 0; i < batch; i++)
        {
            double sum = 0;
            for (int d = 0; d < width; d++) sum += (double)features[i * width + d] * features[i * width + d];
            max = Math.Max(max, Math.Sqrt(sum));
        }
        return max;
    }

    /// <summary>G = F F^T of features [B, D].</summary>
    public static double[] Gram(double[] features, int batch, int width)
    {
        var gram = new double[batch * batch];
        for (int i = 0; i < batch; i++)
        for (int j = 0; j < batch; j++)
        {
            double sum = 0;
            for (int d = 0; d < width; d++) sum += features[i * width + d] * features[j * width + d];
            gram[i * batch + j] = sum;
        }
        return gram;
    }

    /// <summary>(W + W^T) F: the gradient of a loss of G = F F^T whose gradient with respect to G is W.</summary>
    public static double[] SymmetricProduct(double[] weights, double[] features, int batch, int width)
    {
        var result = new double[batch * width];
        for (int k = 0; k < batch; k++)
        for (int l = 0; l < batch; l++)
        {
            double w = weights[k * batch + l] + weights[l * batch + k];
            for (int d = 0; d < width; d++) result[k * width + d] += w * features[l * width + d];
        }
        return result;
    }

    /// <summary>Smooth L1 with beta = 1.</summary>
    public static double SmoothL1(double x) => Math.Abs(x) < 1 ? 0.5 * x * x : Math.Abs(x) - 0.5;

    /// <summary>Its derivative, clamp(x, -1, 1).</summary>
    public static double SmoothL1Slope(double x) => Math.Clamp(x, -1, 1);

    /// <summary>Row i of features [B, D] as a new array.</summary>
    public static double[] Row(double[] features, int i, int width) => features.AsSpan(i * width, width).ToArray();
}
