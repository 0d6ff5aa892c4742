using ScottPlot;

namespace GpuDistill.Perf;

/// <summary>The suite's PNG charts: time per backend per size, and the fraction of the memory floor each reaches.</summary>
internal static class Charts
{
    /// <summary>Writes time-per-backend.png and fraction-of-floor.png for the fused KL forward+backward.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<ResultRow> rows, string directory)
    {
        List<ResultRow> lines = rows.Where(r => r.Kernel == SoftmaxKLBenchmark.Kernel && (r.Mode.StartsWith("fwd+bwd", StringComparison.Ordinal)
            || r.Backend == "streaming-floor")).ToList();
        if (lines.Count == 0) return [];
        string[] sizes = lines.Select(r => r.Size).Distinct().ToArray();
        string[] backends = lines.Select(r => r.Backend).Distinct().ToArray();

        string time = Path.Combine(directory, "time-per-backend.png");
        Grouped(lines, sizes, backends, r => Math.Log10(r.Timing.MedianMs),
            "Fused softened-softmax KL, forward + backward (copies incl.), median time", "time (ms, log scale)", logTicks: true)
            .SavePng(time, 1200, 650);
        string floor = Path.Combine(directory, "fraction-of-floor.png");
        Grouped(lines.Where(r => r.Backend != "streaming-floor").ToList(), sizes, backends.Where(b => b != "streaming-floor").ToArray(),
            r => r.FractionOfFloor, "Fraction of the memory floor reached (floor time / time; 1 = streaming speed)",
            "fraction of floor", logTicks: false)
            .SavePng(floor, 1200, 650);
        return [time, floor];
    }

    private static Plot Grouped(List<ResultRow> lines, string[] sizes, string[] backends, Func<ResultRow, double> value,
        string title, string yLabel, bool logTicks)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        double width = 0.8 / backends.Length;
        for (int b = 0; b < backends.Length; b++)
        {
            Color color = palette.GetColor(b);
            for (int s = 0; s < sizes.Length; s++)
            {
                ResultRow? row = lines.FirstOrDefault(r => r.Backend == backends[b] && r.Size == sizes[s]);
                if (row is null) continue;
                double v = value(row);
                // Bars start at the axis floor so log values below zero (times under 1 ms) still show.
                double bottom = logTicks ? -2 : 0;
                plot.Add.Bar(new Bar
                {
                    Position = s - 0.4 + width * (b + 0.5),
                    Value = v,
                    ValueBase = bottom,
                    Size = width * 0.9,
                    FillColor = color,
                });
            }
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = backends[b], FillColor = color });
        }
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, sizes.Length).Select(i => (double)i).ToArray(), sizes);
        if (logTicks)
        {
            double[] ticks = [-2, -1, 0, 1, 2, 3, 4];
            plot.Axes.Left.SetTicks(ticks, ticks.Select(t => Math.Pow(10, t).ToString(t < 0 ? "0.##" : "0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
            plot.Axes.SetLimitsY(-2, 4);
        }
        else
        {
            plot.Axes.SetLimitsY(0, Math.Max(1.05, lines.Max(value) * 1.1));
        }
        plot.Title(title);
        plot.YLabel(yLabel);
        plot.XLabel("rows x classes");
        plot.ShowLegend(Alignment.UpperLeft);
        return plot;
    }
}
