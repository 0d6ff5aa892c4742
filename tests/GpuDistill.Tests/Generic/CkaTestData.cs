namespace GpuDistill.Tests.Generic;

/// <summary>Inputs for the CKA tests: random features and transforms CKA must not notice.</summary>
public static class CkaTestData
{
    /// <summary>Uniform features [n * width] in [-scale, scale] plus <paramref name="offset"/>.</summary>
    public static float[] Features(Random random, int rows, int width, double scale = 1, float offset = 0)
    {
        float[] values = RandomData.Uniform(random, (long)rows * width, scale);
        for (int i = 0; i < values.Length; i++) values[i] += offset;
        return values;
    }

    /// <summary>A random orthogonal matrix [width * width] (Gram-Schmidt on Gaussian columns), row-major.</summary>
    public static double[] Orthogonal(Random random, int width)
    {
        var q = new double[width * width];
        for (int c = 0; c < width; c++)
        {
            var v = new double[width];
            for (int r = 0; r < width; r++) v[r] = Gaussian(random);
            // Twice, so rounding left by the first pass is removed by the second.
            for (int pass = 0; pass < 2; pass++)
            {
                for (int prev = 0; prev < c; prev++)
                {
                    double dot = 0;
                    for (int r = 0; r < width; r++) dot += v[r] * q[r * width + prev];
                    for (int r = 0; r < width; r++) v[r] -= dot * q[r * width + prev];
                }
            }
            double norm = Math.Sqrt(v.Sum(e => e * e));
            for (int r = 0; r < width; r++) q[r * width + c] = v[r] / norm;
        }
        return q;
    }

    /// <summary>F Q for features F [n * width] and Q [width * width], in float64.</summary>
    public static double[] Rotate(double[] features, double[] q, int rows, int width)
    {
        var result = new double[features.Length];
        for (int i = 0; i < rows; i++)
        {
            for (int c = 0; c < width; c++)
            {
                double sum = 0;
                for (int k = 0; k < width; k++) sum += features[i * width + k] * q[k * width + c];
                result[i * width + c] = sum;
            }
        }
        return result;
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
