using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>Writes results.md, results.csv, results.json and the PNG plots into the output directory.</summary>
public static class ResultsWriter
{
    /// <summary>Writes every results file (each atomically).</summary>
    public static void Write(ExperimentResults results, string directory)
    {
        ArgumentNullException.ThrowIfNull(results);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "results.json"), JsonSerializer.Serialize(results, ResultJson.Options));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.csv"), Csv(results));
        AtomicFile.WriteAllText(Path.Combine(directory, "results.md"), Markdown(results));
        ResultsPlots.Write(results, directory);
    }

    /// <summary>One CSV row per method and student.</summary>
    public static string Csv(ExperimentResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder("method,student,loss,seeds,accuracy_mean,accuracy_std,gap_recovered,agreement,ece,parameters,train_seconds,teacher_accuracy,data,machine\n");
        foreach (SummaryRow r in results.Summary)
        {
            sb.AppendLine(string.Join(',', r.Method, r.Student, Quote(r.Loss), I(r.Seeds), F(r.MeanAccuracy), F(r.StdAccuracy),
                r.GapRecovered is double g ? F(g) : "", r.Agreement is double a ? F(a) : "", r.Ece is double e ? F(e) : "",
                I(r.Parameters), F(r.TrainSeconds), F(results.Teacher.FinalAccuracy), Quote(results.Data), Quote(results.Machine)));
        }
        return sb.ToString();
    }

    /// <summary>The summary table and the run details, in Markdown.</summary>
    public static string Markdown(ExperimentResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"# {results.Name}");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"- data: {results.Data}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- machine: {results.Machine}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"- loss kernels on: {results.Accelerator}");
        if (!results.HasTeacher) sb.AppendLine("- teacher: none (no method or scheme of this run reads one)");
        else sb.AppendLine(CultureInfo.InvariantCulture,
            $"- teacher: {results.Teacher.Model}, {results.Teacher.Parameters:N0} parameters, {results.Teacher.FinalAccuracy:P2} test accuracy after {results.Teacher.Epochs.Count} epochs ({results.Teacher.TrainSeconds:F0} s)");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"| method | student | loss | seeds | {(results.RowsOnValidation ? "validation" : "test")} accuracy (mean ± std) | gap recovered | agreement | ECE | parameters | train time / run |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (SummaryRow r in results.Summary)
        {
            string gap = r.GapRecovered is double g ? g.ToString("P0", CultureInfo.InvariantCulture) : "-";
            string agreement = r.Agreement is double a ? a.ToString("P1", CultureInfo.InvariantCulture) : "-";
            string ece = r.Ece is double e ? e.ToString("F3", CultureInfo.InvariantCulture) : "-";
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Method} | {r.Student} | `{r.Loss}` | {r.Seeds} | {r.MeanAccuracy * 100:F2}% ± {r.StdAccuracy * 100:F2} | {gap} | {agreement} | {ece} | {r.ParametersText} | {r.TrainSeconds:F0} s |");
        }
        sb.AppendLine();
        sb.AppendLine("Gap recovered = (method − student alone) / (teacher − student alone), on mean accuracies. Agreement: the share");
        sb.AppendLine("of test images where the student's top-1 class is the teacher's; ECE: expected calibration error over 15 bins");
        sb.AppendLine("(both on the test set, mean over seeds). Scheme rows name their role in brackets (a peer, a generation, an");
        sb.AppendLine("exit); an ensemble's train time is its members' total.");
        sb.AppendLine();
        AppendCapacityGap(sb, CapacityGap.Points(results));
        if (results.Tuning is { Count: > 0 } tuning) AppendTuning(sb, tuning);
        SummaryRow[] noted = [.. results.Summary.Where(r => r.Note is not null)];
        if (noted.Length > 0)
        {
            sb.AppendLine("## Notes");
            sb.AppendLine();
            foreach (SummaryRow r in noted) sb.AppendLine(CultureInfo.InvariantCulture, $"- {r.Method} / {r.Student}: {r.Note}");
            sb.AppendLine();
        }
        sb.AppendLine("## Time per epoch, by part of the training step (mean over seeds)");
        sb.AppendLine();
        sb.AppendLine("| method | student | making batches | teacher forward | student forward | loss terms | backward + step | total |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|");
        // Ensembles are not trained themselves: they have no step.
        foreach (SummaryRow r in results.Summary.Where(r => r.StepSplit.Total > 0))
        {
            StepTimeSplit s = r.StepSplit;
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Method} | {r.Student} | {s.Batches:F2} s | {s.Teacher:F2} s | {s.StudentForward:F2} s | {s.Loss:F2} s | {s.BackwardAndStep:F2} s | {s.Total:F2} s |");
        }
        sb.AppendLine();
        sb.AppendLine("![test accuracy per epoch](accuracy-per-epoch.png)");
        sb.AppendLine();
        sb.AppendLine("![final test accuracy](final-accuracy.png)");
        return sb.ToString();
    }

    /// <summary>With two or more students trained alone: each method's gap recovered by student size.</summary>
    private static void AppendCapacityGap(StringBuilder sb, IReadOnlyList<CapacityGapPoint> points)
    {
        if (points.Count == 0) return;
        string[] methods = [.. points.Select(p => p.Method).Distinct()];
        sb.AppendLine("## Gap recovered by student size");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"| student | parameters | of the teacher | alone | {string.Join(" | ", methods)} |");
        sb.AppendLine(CultureInfo.InvariantCulture, $"|---|---|---|---|{string.Concat(methods.Select(_ => "---|"))}");
        foreach (var student in points.GroupBy(p => p.Student))
        {
            CapacityGapPoint first = student.First();
            IEnumerable<string> cells = methods.Select(m => student.FirstOrDefault(p => p.Method == m) is { } p
                ? string.Create(CultureInfo.InvariantCulture, $"{p.Accuracy * 100:F2}%, {p.GapRecovered * 100:F0}% ± {p.GapSpread * 100:F0}")
                : "-");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {first.Student} | {first.Parameters:N0} | {first.TeacherFraction * 100:F1}% | {first.Alone * 100:F2}% | {string.Join(" | ", cells)} |");
        }
        sb.AppendLine();
        sb.AppendLine("Each method's cell: its test accuracy and the gap recovered, ± its accuracy's spread over the same gap.");
        sb.AppendLine();
        sb.AppendLine("![gap recovered by student size](capacity-gap.png)");
        sb.AppendLine();
    }

    /// <summary>Every tuned method's grid: each point's validation accuracy, the pick in bold.</summary>
    private static void AppendTuning(StringBuilder sb, IReadOnlyList<TuningResult> tuning)
    {
        sb.AppendLine("## Tuning on the validation split");
        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Each grid point trained once (seed {tuning[0].Seed}, {tuning[0].Epochs} epochs) on the training images without the held-out validation split and was judged on that split by its last epoch; the pick (bold) made the rows above, which read the test set. A method without a grid (the student alone) ran once at the same schedule: the baseline the points compare with.");
        sb.AppendLine();
        sb.AppendLine("| method | student | grid point | validation accuracy | train time |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (TuningResult t in tuning)
        {
            for (int k = 0; k < t.Points.Count; k++)
            {
                TuningPoint p = t.Points[k];
                string accuracy = p.Diverged is null ? (p.ValidationAccuracy * 100).ToString("F2", CultureInfo.InvariantCulture) + "%" : $"diverged ({p.Diverged})";
                string point = k == t.Picked ? $"**`{p.Point}`**" : $"`{p.Point}`";
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {t.Method} | {t.Student} | {point} | {accuracy} | {p.Seconds:F0} s |");
            }
        }
        sb.AppendLine();
    }

    private static string F(double v) => v.ToString("G6", CultureInfo.InvariantCulture);

    private static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
