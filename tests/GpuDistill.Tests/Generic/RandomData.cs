namespace GpuDistill.Tests.Generic;

/// <summary>Whether a row loss gets labels, and whether some rows are padding (label -100, ignored).</summary>
public enum LabelMode { None, Labels, LabelsWithIgnored }

/// <summary>
/// Fresh random inputs: a new seed per call unless one is given, printed so a failure can be replayed
/// (GPUDISTILL_TEST_SEED=N with a filter on the failed test).
/// </summary>
public static class RandomData
{
    public static Random NewRandom(int? seed = null)
    {
        int s = seed ?? (int.TryParse(Environment.GetEnvironmentVariable("GPUDISTILL_TEST_SEED"), out int replay)
            ? replay
            : Random.Shared.Next());
        TestContext.Out.WriteLine($"random seed {s}");
        return new Random(s);
    }

    /// <summary>Uniform values in [-scale, scale].</summary>
    public static float[] Uniform(Random random, long count, double scale)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }

    /// <summary>Normal values with mean 0 and standard deviation <paramref name="deviation"/> (Box-Muller).</summary>
    public static float[] Normal(Random random, long count, double deviation)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++)
        {
            double radius = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble()));
            values[i] = (float)(deviation * radius * Math.Cos(2 * Math.PI * random.NextDouble()));
        }
        return values;
    }

    /// <summary>No labels, labels in [0, classes), or labels with about one in five set to the ignore index -100.</summary>
    public static int[]? Labels(Random random, int rows, int classes, LabelMode mode) => mode switch
    {
        LabelMode.None => null,
        LabelMode.Labels => Labels(random, rows, classes, ignoreIndex: null),
        _ => Labels(random, rows, classes, ignoreIndex: -100),
    };

    /// <summary>Labels in [0, classes), with about one in five set to <paramref name="ignoreIndex"/> when asked.</summary>
    public static int[] Labels(Random random, int rows, int classes, int? ignoreIndex)
    {
        var labels = new int[rows];
        for (int i = 0; i < rows; i++)
            labels[i] = ignoreIndex is int ignore && random.Next(5) == 0 ? ignore : random.Next(classes);
        return labels;
    }
}
