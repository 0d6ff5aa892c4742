using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuDistill.Training;
using ScottPlot;
using static GpuDistill.Methods.SeedStatistics;

namespace GpuDistill.Methods;

/// <summary>
/// The lifelong scheme's own results: a table of the metrics per scenario and method (mean and spread over seeds),
/// the mean accuracy matrices, a heatmap PNG per method, and the issue's goals checked against the numbers.
/// </summary>
public static class LifelongReport
{
    /// <summary>Writes results.md, results.json and heatmaps/*.png into <paramref name="directory"/>.</summary>
    /// <param name="directory">The report's directory.</param>
    /// <param name="title">The first line.</param>
    /// <param name="context">Lines about the set-up (data, schedule, settings).</param>
    /// <param name="results">Every sequence's record, all seeds.</param>
    public static void Write(string directory, string title, IReadOnlyList<string> context, IReadOnlyList<SequenceResult> results)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(Path.Combine(directory, "heatmaps"));
        List<Row> rows = [.. results.GroupBy(r => (r.Scenario, r.Method, r.Classifier)).Select(g => new Row([.. g]))];
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), JsonSerializer.Serialize(results, ResultJson.Options));
        foreach (Row row in rows) Heatmap(row).SavePng(Path.Combine(directory, "heatmaps", row.FileName), 560, 480);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), Markdown(title, context, rows));
    }

    /// <summary>The Markdown report.</summary>
    private static string Markdown(string title, IReadOnlyList<string> context, List<Row> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {title}");
        sb.AppendLine();
        foreach (string line in context) sb.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
        sb.AppendLine();
        sb.AppendLine("A_T: mean test accuracy over all tasks after the last one; F_T: forgetting (mean over the earlier tasks of the best");
        sb.AppendLine("earlier accuracy minus the final one); BWT: backward transfer; FWT: forward transfer (task-incremental outputs");
        sb.AppendLine("only); loss-spec-2 section 10.3. Mean ± sample standard deviation over seeds, in points of accuracy.");
        foreach (var scenario in rows.GroupBy(r => r.Scenario))
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"## {(scenario.Key == "task" ? "Task-incremental (a head per task, task identity at test time)" : "Class-incremental (one head over the classes seen so far, no task identity)")}");
            sb.AppendLine();
            sb.AppendLine("| method | classifier | seeds | A_T | F_T | BWT | FWT | last task's loss | train time / sequence |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (Row r in scenario)
            {
                string fwt = r.Results.All(x => x.ForwardTransfer is not null) ? MeanStd(r.Results.Select(x => x.ForwardTransfer!.Value)) : "-";
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {SequenceResult.MethodLabel(r.Method)} | {(r.Classifier == "nme" ? "nearest mean of exemplars" : "outputs")} | {r.Results.Count} | {MeanStd(r.Results.Select(x => x.AverageAccuracy))} | {MeanStd(r.Results.Select(x => x.Forgetting))} | {MeanStd(r.Results.Select(x => x.BackwardTransfer))} | {fwt} | `{r.Results[0].Loss}` | {r.Results.Average(x => x.TrainSeconds):F0} s |");
            }
        }
        Goals(sb, rows);
        sb.AppendLine();
        sb.AppendLine("## Accuracy matrices (mean over seeds, %): row = after training on task k, column = test on task j");
        foreach (Row r in rows)
        {
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"### {r.Results[0].Label}");
            sb.AppendLine();
            int t = r.Mean.GetLength(0);
            sb.AppendLine("| after \\ on | " + string.Join(" | ", Enumerable.Range(1, t).Select(j => $"task {j}")) + " |");
            sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", t)));
            for (int k = 0; k < t; k++)
            {
                double[,] mean = r.Mean;
                string cells = string.Join(" | ", Enumerable.Range(0, t).Select(j => double.IsNaN(mean[k, j]) ? "-" : (mean[k, j] * 100).ToString("F1", CultureInfo.InvariantCulture)));
                sb.AppendLine(CultureInfo.InvariantCulture, $"| task {k + 1} | {cells} |");
            }
            sb.AppendLine();
            sb.AppendLine(CultureInfo.InvariantCulture, $"![{r.Results[0].Label}](heatmaps/{r.FileName})");
        }
        return sb.ToString();
    }

    /// <summary>The issue's goals (18), where the rows they compare are present.</summary>
    private static void Goals(StringBuilder sb, List<Row> rows)
    {
        Row? Find(string scenario, string method, string classifier) =>
            rows.FirstOrDefault(r => r.Scenario == scenario && r.Method == method && r.Classifier == classifier);
        var lines = new List<string>();
        if (Find("task", "lwf", "outputs") is { } lwf && Find("task", "fine-tuning", "outputs") is { } fine)
        {
            double ratio = Mean(lwf.Results.Select(r => r.Forgetting)) / Mean(fine.Results.Select(r => r.Forgetting));
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"task-IL: LwF forgets {Points(lwf.Results.Select(r => r.Forgetting))} points (F_T), fine-tuning {Points(fine.Results.Select(r => r.Forgetting))}: ratio {ratio:F2} (goal: at most 0.5) - {(ratio <= 0.5 ? "met" : "missed")}"));
        }
        foreach (string classifier in new[] { "outputs", "nme" })
        {
            if (Find("class", "icarl", classifier) is not { } icarl) continue;
            string by = classifier == "nme" ? "nearest mean of exemplars" : "outputs";
            if (Find("class", "joint", "outputs") is { } joint)
            {
                double gap = (Mean(joint.Results.Select(r => r.AverageAccuracy)) - Mean(icarl.Results.Select(r => r.AverageAccuracy))) * 100;
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"class-IL: iCaRL ({by}) A_T {Points(icarl.Results.Select(r => r.AverageAccuracy))} vs joint {Points(joint.Results.Select(r => r.AverageAccuracy))}: {gap:F1} points below (goal: within 10) - {(gap <= 10 ? "met" : "missed")}"));
            }
            if (Find("class", "replay", classifier) is { } replay)
            {
                double lead = (Mean(icarl.Results.Select(r => r.AverageAccuracy)) - Mean(replay.Results.Select(r => r.AverageAccuracy))) * 100;
                double spread = (Std(icarl.Results.Select(r => r.AverageAccuracy)) + Std(replay.Results.Select(r => r.AverageAccuracy))) * 100;
                lines.Add(string.Create(CultureInfo.InvariantCulture,
                    $"class-IL: iCaRL ({by}) vs replay without distillation ({by}): {lead:+0.0;-0.0} points; spread (sum of the two standard deviations) {spread:F1} (goal: above beyond the spread) - {(lead > spread ? "met" : "missed")}"));
            }
        }
        if (lines.Count == 0) return;
        sb.AppendLine();
        sb.AppendLine("## Goals of issue 18");
        sb.AppendLine();
        foreach (string line in lines) sb.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
    }

    private static Plot Heatmap(Row row)
    {
        int t = row.Mean.GetLength(0);
        var percent = new double[t, t];
        for (int k = 0; k < t; k++)
        {
            for (int j = 0; j < t; j++) percent[k, j] = row.Mean[k, j] * 100;
        }
        var plot = new Plot();
        var map = plot.Add.Heatmap(percent);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        map.ManualRange = new ScottPlot.Range(0, 100);
        // Row 0 (after task 1) at the top, one unit per cell.
        map.Rectangle = new CoordinateRect(0, t, 0, t);
        for (int k = 0; k < t; k++)
        {
            for (int j = 0; j < t; j++)
            {
                if (double.IsNaN(percent[k, j])) continue;
                var label = plot.Add.Text(percent[k, j].ToString("F1", CultureInfo.InvariantCulture), j + 0.5, t - k - 0.5);
                label.LabelAlignment = Alignment.MiddleCenter;
                label.LabelFontColor = percent[k, j] > 60 ? Colors.Black : Colors.White;
                label.LabelFontSize = 14;
            }
        }
        plot.Add.ColorBar(map);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, t).Select(j => j + 0.5)], [.. Enumerable.Range(1, t).Select(j => $"task {j}")]);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, t).Select(k => t - k - 0.5)], [.. Enumerable.Range(1, t).Select(k => $"after {k}")]);
        plot.Axes.SetLimits(0, t, 0, t);
        plot.Title($"{row.Results[0].Label}: accuracy (%), {row.Results.Count} seed(s)");
        plot.XLabel("test on");
        plot.YLabel("after training on");
        return plot;
    }

    private static double Mean(IEnumerable<double> values) => values.Average();

    private static string Points(IEnumerable<double> values) => (Mean(values) * 100).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>One scenario, method and classifier over its seeds.</summary>
    private sealed record Row(List<SequenceResult> Results)
    {
        public string Scenario => Results[0].Scenario;

        public string Method => Results[0].Method;

        public string Classifier => Results[0].Classifier;

        public string FileName => $"{Scenario}-{Method}-{Classifier}.png";

        /// <summary>The mean accuracy matrix over seeds.</summary>
        public double[,] Mean
        {
            get
            {
                int t = Results[0].Accuracy.Length;
                var mean = new double[t, t];
                for (int k = 0; k < t; k++)
                {
                    for (int j = 0; j < t; j++) mean[k, j] = Results.Average(r => r.Accuracy[k][j]);
                }
                return mean;
            }
        }
    }
}
