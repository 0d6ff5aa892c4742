using ScottPlot;

namespace GpuDistill.Experiments;

/// <summary>The PNG plots of an experiment: accuracy per epoch, and final accuracy with its spread.</summary>
public static class ResultsPlots
{
    /// <summary>Writes accuracy-per-epoch.png and final-accuracy.png.</summary>
    public static void Write(ExperimentResults results, string directory)
    {
        ArgumentNullException.ThrowIfNull(results);
        AccuracyPerEpoch(results).SavePng(Path.Combine(directory, "accuracy-per-epoch.png"), 1000, 600);
        FinalAccuracy(results).SavePng(Path.Combine(directory, "final-accuracy.png"), 1000, 600);
        IReadOnlyList<CapacityGapPoint> sweep = CapacityGap.Points(results);
        if (sweep.Count > 0) GapBySize(sweep).SavePng(Path.Combine(directory, "capacity-gap.png"), 1000, 600);
    }

    /// <summary>Gap recovered against the student's parameter count (log scale), a line per method, bars of spread.</summary>
    private static Plot GapBySize(IReadOnlyList<CapacityGapPoint> points)
    {
        var plot = new Plot();
        foreach (var method in points.GroupBy(p => p.Method))
        {
            CapacityGapPoint[] ordered = [.. method.OrderBy(p => p.Parameters)];
            double[] xs = [.. ordered.Select(p => Math.Log10(p.Parameters))];
            var line = plot.Add.Scatter(xs, [.. ordered.Select(p => p.GapRecovered * 100)]);
            line.LegendText = method.Key;
            var bars = plot.Add.ErrorBar(xs, [.. ordered.Select(p => p.GapRecovered * 100)], [.. ordered.Select(p => p.GapSpread * 100)]);
            bars.Color = line.Color;
        }
        CapacityGapPoint[] students = [.. points.DistinctBy(p => p.Student).OrderBy(p => p.Parameters)];
        plot.Axes.Bottom.SetTicks([.. students.Select(p => Math.Log10(p.Parameters))],
            [.. students.Select(p => $"{p.Student}\n{p.Parameters:N0}")]);
        var zero = plot.Add.HorizontalLine(0);
        zero.LinePattern = LinePattern.Dotted;
        return Labelled(plot, "Teacher-student gap recovered by student size (mean ± std over seeds)", "student parameters (log scale)",
            "gap recovered (%)", Alignment.UpperRight);
    }

    private static Plot AccuracyPerEpoch(ExperimentResults results)
    {
        var plot = new Plot();
        foreach (var group in results.Runs.GroupBy(r => (r.Method, r.Student)))
        {
            int epochs = group.Min(r => r.Run.Epochs.Count);
            double[] xs = Enumerable.Range(1, epochs).Select(e => (double)e).ToArray();
            double[] ys = xs.Select((_, i) => group.Average(r => r.Run.Epochs[i].TestAccuracy) * 100).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = $"{group.Key.Method} ({group.Key.Student})";
        }
        if (results.HasTeacher)
        {
            double[] teacherX = results.Teacher.Epochs.Select(e => (double)e.Epoch).ToArray();
            var teacher = plot.Add.Scatter(teacherX, results.Teacher.Epochs.Select(e => e.TestAccuracy * 100).ToArray());
            teacher.LegendText = $"teacher ({results.Teacher.Model})";
            teacher.LinePattern = LinePattern.Dashed;
        }
        return Labelled(plot, "Test accuracy per epoch (mean over seeds)", "epoch", "test accuracy (%)", Alignment.LowerRight);
    }

    private static Plot FinalAccuracy(ExperimentResults results)
    {
        var plot = new Plot();
        var rows = results.Summary;
        double[] positions = Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray();
        var bars = plot.Add.Bars(positions, rows.Select(r => r.MeanAccuracy * 100).ToArray());
        for (int i = 0; i < rows.Count; i++) bars.Bars[i].Error = rows[i].StdAccuracy * 100;
        if (results.HasTeacher)
        {
            var teacherLine = plot.Add.HorizontalLine(results.Teacher.FinalAccuracy * 100);
            teacherLine.LegendText = "teacher";
            teacherLine.LinePattern = LinePattern.Dashed;
        }
        plot.Axes.Bottom.SetTicks(positions, rows.Select(r => $"{r.Method}\n{r.Student}").ToArray());
        double low = rows.Min(r => r.MeanAccuracy - r.StdAccuracy) * 100;
        plot.Axes.SetLimitsY(Math.Max(0, Math.Floor(low - 2)), Math.Ceiling(Math.Max(results.HasTeacher ? results.Teacher.FinalAccuracy * 100 : 0, rows.Max(r => r.MeanAccuracy * 100)) + 1));
        return Labelled(plot, "Final test accuracy (mean ± std over seeds)", null, "test accuracy (%)", Alignment.UpperRight);
    }

    /// <summary>The plot with its title, axis labels (no x label when null) and legend.</summary>
    private static Plot Labelled(Plot plot, string title, string? x, string y, Alignment legend)
    {
        plot.Title(title);
        if (x is not null) plot.XLabel(x);
        plot.YLabel(y);
        plot.ShowLegend(legend);
        return plot;
    }
}
