using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Training;
using ScottPlot;
using static GpuDistill.Methods.SeedStatistics;

namespace GpuDistill.Methods;

/// <summary>
/// The cross-modal scheme's own results: a table of the rows (mean and spread over seeds, points below the labelled
/// upper bound), the issue's goal checked, a bar chart, and a picture of a few images beside their measurements.
/// </summary>
public static class CrossModalReport
{
    /// <summary>Writes results.md, results.json, accuracy.png and modality.png into <paramref name="directory"/>.</summary>
    /// <param name="directory">The report's directory.</param>
    /// <param name="title">The first line.</param>
    /// <param name="context">Lines about the set-up.</param>
    /// <param name="results">Every row's record, all seeds.</param>
    /// <param name="images">Images to show beside their measurements (the first image of four classes).</param>
    /// <param name="modality">The measurement.</param>
    public static void Write(string directory, string title, IReadOnlyList<string> context, IReadOnlyList<CrossModalResult> results,
        ImageDataset images, RadonModality modality)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(modality);
        Directory.CreateDirectory(directory);
        List<List<CrossModalResult>> rows = [.. results.GroupBy(r => r.Method)
            .OrderBy(g => CrossModalSettings.MethodNames.ToList().IndexOf(g.Key)).Select(g => g.ToList())];
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), JsonSerializer.Serialize(results, ResultJson.Options));
        if (rows.Count > 0) Bars(rows).SavePng(Path.Combine(directory, "accuracy.png"), 800, 500);
        Examples(images, modality).SavePng(Path.Combine(directory, "modality.png"), 700, 800);

        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {title}");
        sb.AppendLine();
        foreach (string line in context) sb.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
        sb.AppendLine();
        sb.AppendLine("Test accuracy of the modality student on the test images' measurements after the last epoch, in %, mean ± sample");
        sb.AppendLine("standard deviation over seeds. \"Below labels\": points below the labelled upper bound; \"share\": the row's accuracy as a");
        sb.AppendLine("share of the upper bound's.");
        sb.AppendLine();
        sb.AppendLine("| row | seeds | test accuracy | below labels | share | loss | parameters | train time |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        double? upper = rows.FirstOrDefault(r => r[0].Method == "labels") is { } labelled ? labelled.Average(r => r.Accuracy) : null;
        foreach (List<CrossModalResult> row in rows)
        {
            double mean = row.Average(r => r.Accuracy);
            string below = upper is double u ? ((u - mean) * 100).ToString("F1", CultureInfo.InvariantCulture) : "-";
            string share = upper is double v && v > 0 ? (mean / v).ToString("P1", CultureInfo.InvariantCulture) : "-";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {CrossModalScheme.Label(row[0].Method)} | {row.Count} | {MeanStd(row.Select(r => r.Accuracy))} | {below} | {share} | `{row[0].Loss}` | {row[0].Parameters:N0} | {row.Average(r => r.TrainSeconds):F0} s |");
        }
        sb.AppendLine();
        sb.AppendLine("Per seed:");
        sb.AppendLine();
        sb.AppendLine("| row | " + string.Join(" | ", results.Select(r => r.Seed).Distinct().Order().Select(s => $"seed {s}")) + " |");
        sb.AppendLine("|---|" + string.Concat(Enumerable.Repeat("---|", results.Select(r => r.Seed).Distinct().Count())));
        foreach (List<CrossModalResult> row in rows)
        {
            string cells = string.Join(" | ", results.Select(r => r.Seed).Distinct().Order()
                .Select(s => row.FirstOrDefault(r => r.Seed == s) is { } r ? (r.Accuracy * 100).ToString("F1", CultureInfo.InvariantCulture) : "-"));
            sb.AppendLine(CultureInfo.InvariantCulture, $"| {CrossModalScheme.Label(row[0].Method)} | {cells} |");
        }
        if (upper is double top && rows.FirstOrDefault(r => r[0].Method == "kd") is { } kd)
        {
            double gap = (top - kd.Average(r => r.Accuracy)) * 100;
            sb.AppendLine();
            sb.AppendLine("## Goal of issue 18");
            sb.AppendLine();
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"- the label-free KD student is {Math.Abs(gap):F1} points {(gap < 0 ? "above" : "below")} the labelled one (goal: within 2 below) - {(gap <= 2 ? "met" : "missed")}"));
        }
        sb.AppendLine();
        sb.AppendLine("![test accuracy per row](accuracy.png)");
        sb.AppendLine();
        sb.AppendLine("Four test images (left) and their measurements (right; one row per angle, stretched to the image's height):");
        sb.AppendLine();
        sb.AppendLine("![images and their measurements](modality.png)");
        AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), sb.ToString());
    }

    private static Plot Bars(List<List<CrossModalResult>> rows)
    {
        var plot = new Plot();
        double[] positions = [.. Enumerable.Range(0, rows.Count).Select(i => (double)i)];
        var bars = plot.Add.Bars(positions, [.. rows.Select(r => r.Average(x => x.Accuracy) * 100)]);
        for (int i = 0; i < rows.Count; i++) bars.Bars[i].Error = Std(rows[i].Select(r => r.Accuracy)) * 100;
        plot.Axes.Bottom.SetTicks(positions, [.. rows.Select(r => CrossModalScheme.Label(r[0].Method))]);
        double low = rows.Min(r => r.Average(x => x.Accuracy)) * 100;
        plot.Axes.SetLimitsY(Math.Max(0, Math.Floor(low - 10)), 100);
        plot.Title($"Sinogram student: test accuracy (mean ± std over {rows.Max(r => r.Count)} seed(s))");
        plot.YLabel("test accuracy (%)");
        return plot;
    }

    /// <summary>The first test image of four classes, each beside its measurement (rows repeated to 28 high).</summary>
    private static Plot Examples(ImageDataset images, RadonModality modality)
    {
        const int size = 28, gap = 2;
        int[] picks = [.. Enumerable.Range(0, images.ClassCount).Select(c => Enumerable.Range(0, images.Count).FirstOrDefault(i => images.Label(i) == c, -1))
            .Where(i => i >= 0).Take(4)];
        ImageDataset measured = modality.Measure(images.Subset(picks, "examples"), [], "examples");
        int width = size + gap + modality.Bins, height = picks.Length * (size + gap);
        var canvas = new double[height, width];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++) canvas[y, x] = double.NaN;
        }
        for (int k = 0; k < picks.Length; k++)
        {
            ReadOnlySpan<byte> image = images.Image(picks[k]), measurement = measured.Image(k);
            for (int y = 0; y < size; y++)
            {
                for (int x = 0; x < size; x++) canvas[k * (size + gap) + y, x] = image[y * size + x];
                int angle = Math.Min(modality.Angles - 1, y * modality.Angles / size);
                for (int b = 0; b < modality.Bins; b++) canvas[k * (size + gap) + y, size + gap + b] = measurement[angle * modality.Bins + b];
            }
        }
        var plot = new Plot();
        var map = plot.Add.Heatmap(canvas);
        map.Colormap = new ScottPlot.Colormaps.Grayscale();
        map.NaNCellColor = Colors.White;
        plot.Axes.Frameless();
        plot.Title(string.Create(CultureInfo.InvariantCulture, $"image | {modality.Angles} x {modality.Bins} measurement"));
        return plot;
    }
}
