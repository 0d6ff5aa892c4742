namespace GpuDistill.Methods;

/// <summary>
/// iCaRL's herding (loss-spec-2 10.2, the reference code's greedy weight-vector form): ranks a class's images so that
/// the mean feature of the first k approximates the class mean for every k.
/// </summary>
public static class Herding
{
    /// <summary>
    /// Ranks up to <paramref name="count"/> distinct images. With L2-normalised features D_i and their mean mu: start
    /// with w = mu; repeat: pick i = argmax_i dot(w, D_i) (the lowest index on a tie), append it if it is not ranked
    /// yet, then w = w + mu - D_i; stop when <paramref name="count"/> images are ranked or after
    /// <paramref name="maxTries"/> picks.
    /// </summary>
    /// <param name="features">One feature vector per image, all of one length; normalised here (a zero vector stays 0).</param>
    /// <param name="count">How many images to rank (at most the number of images).</param>
    /// <param name="maxTries">Most picks (the reference code's 1000 for its 20 exemplars per class).</param>
    /// <returns>Indices into <paramref name="features"/>, best first (fewer than <paramref name="count"/> only when the
    /// tries ran out).</returns>
    public static IReadOnlyList<int> Rank(IReadOnlyList<float[]> features, int count, int maxTries)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, features.Count);
        ArgumentOutOfRangeException.ThrowIfNegative(maxTries);
        if (count == 0) return [];
        int n = features.Count, d = features[0].Length;
        var unit = new double[n][];
        var mean = new double[d];
        for (int i = 0; i < n; i++)
        {
            if (features[i].Length != d)
                throw new ArgumentException($"features[{i}] has {features[i].Length} values; features[0] has {d}.", nameof(features));
            double norm = Math.Sqrt(features[i].Sum(v => (double)v * v));
            unit[i] = [.. features[i].Select(v => norm > 0 ? v / norm : 0.0)];
            for (int k = 0; k < d; k++) mean[k] += unit[i][k] / n;
        }

        double[] w = (double[])mean.Clone();
        var ranked = new List<int>(count);
        var taken = new bool[n];
        for (int tries = 0; tries < maxTries && ranked.Count < count; tries++)
        {
            int best = 0;
            double bestDot = double.NegativeInfinity;
            for (int i = 0; i < n; i++)
            {
                double dot = 0;
                for (int k = 0; k < d; k++) dot += w[k] * unit[i][k];
                if (dot > bestDot)
                {
                    bestDot = dot;
                    best = i;
                }
            }
            if (!taken[best])
            {
                taken[best] = true;
                ranked.Add(best);
            }
            for (int k = 0; k < d; k++) w[k] += mean[k] - unit[best][k];
        }
        return ranked;
    }
}
