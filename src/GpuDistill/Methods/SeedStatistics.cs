using System.Globalization;

namespace GpuDistill.Methods;

/// <summary>Mean and spread over seeds, as the schemes' own reports print them.</summary>
internal static class SeedStatistics
{
    /// <summary>The sample standard deviation (0 for fewer than two values).</summary>
    public static double Std(IEnumerable<double> values)
    {
        double[] v = [.. values];
        if (v.Length < 2) return 0;
        double mean = v.Average();
        return Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1));
    }

    /// <summary>Accuracies (0..1) as "mean ± std" in points, one decimal.</summary>
    public static string MeanStd(IEnumerable<double> values)
    {
        double[] v = [.. values];
        return string.Create(CultureInfo.InvariantCulture, $"{v.Average() * 100:F1} ± {Std(v) * 100:F1}");
    }
}
