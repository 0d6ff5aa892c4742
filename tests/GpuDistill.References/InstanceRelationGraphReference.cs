namespace GpuDistill.References;

/// <summary>A [B, C, H, W] (or [B, D] with C = D, H = W = 1) array in float64, row-major.</summary>
public sealed record GraphMap(double[] Values, int Batch, int Channels, int Height, int Width)
{
    /// <summary>Values per example.</summary>
    public int PerExample => Channels * Height * Width;

    /// <summary>The value at (b, c, h, w).</summary>
    public double At(int b, int c, int h, int w) => Values[(((b * Channels) + c) * Height + h) * Width + w];
}

/// <summary>
/// IRG (Liu et al. 2019, as Knowledge-Distillation-Zoo computes it) in float64, written from the definitions with
/// loops: vertex * mse(logits) + edge * mean of the three edge-matrix mses + transformation * mse of the
/// transformation vectors.
/// </summary>
public static class InstanceRelationGraphReference
{
    /// <summary>The loss.</summary>
    public static double Loss(GraphMap[] student, GraphMap[] teacher, double vertex = 0.1, double edge = 5, double transformation = 5)
    {
        // Each array: logits, first, second, embedding.
        double v = Mse(student[0].Values, teacher[0].Values);
        double e = (Mse(Edges(student[3]), Edges(teacher[3])) + Mse(Edges(student[1]), Edges(teacher[1]))
            + Mse(Edges(student[2]), Edges(teacher[2]))) / 3;
        double t = Mse(Transformation(student[1], student[2]), Transformation(teacher[1], teacher[2]));
        return (vertex * v) + (edge * e) + (transformation * t);
    }

    private static double Mse(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += (a[i] - b[i]) * (a[i] - b[i]);
        return sum / a.Length;
    }

    private static double[] Edges(GraphMap map)
    {
        int n = map.Batch, d = map.PerExample;
        var edges = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++)
            {
                if (i == j) continue;
                double sum = 0;
                for (int k = 0; k < d; k++)
                {
                    double diff = map.Values[(i * d) + k] - map.Values[(j * d) + k];
                    sum += diff * diff;
                }
                edges[(i * n) + j] = Math.Max(sum, 1e-12);
            }
        }
        return Normalised(edges);
    }

    private static double[] Transformation(GraphMap first, GraphMap second)
    {
        var result = new double[first.Batch];
        for (int b = 0; b < first.Batch; b++)
        {
            double sum = 0;
            int channels = first.Channels;
            for (int c = 0; c < channels; c++)
            {
                for (int h = 0; h < second.Height; h++)
                {
                    for (int w = 0; w < second.Width; w++)
                    {
                        double a = Pooled(first, b, c, h, w, second.Height, second.Width);
                        double s = second.Channels == 2 * channels
                            ? (second.At(b, 2 * c, h, w) + second.At(b, (2 * c) + 1, h, w)) / 2
                            : second.At(b, c, h, w);
                        sum += (a - s) * (a - s);
                    }
                }
            }
            result[b] = Math.Max(sum, 1e-12);
        }
        return Normalised(result);
    }

    /// <summary>Adaptive average pooling's bin [floor(i H / h), ceil((i + 1) H / h)) per dimension.</summary>
    private static double Pooled(GraphMap map, int b, int c, int h, int w, int height, int width)
    {
        int h0 = h * map.Height / height, h1 = (((h + 1) * map.Height) + height - 1) / height;
        int w0 = w * map.Width / width, w1 = (((w + 1) * map.Width) + width - 1) / width;
        double sum = 0;
        for (int y = h0; y < h1; y++)
        {
            for (int x = w0; x < w1; x++) sum += map.At(b, c, y, x);
        }
        return sum / ((h1 - h0) * (w1 - w0));
    }

    private static double[] Normalised(double[] values)
    {
        double max = Math.Max(values.Max(), 1e-12);
        return values.Select(v => v / max).ToArray();
    }
}
