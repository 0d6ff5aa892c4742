using System.Globalization;
using GpuDistill.Training;
using Spectre.Console;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// Shows training progress within the terminal's width: on a terminal a live bar per run (its name and main loss,
/// the bar, percentage, elapsed and remaining time), with the full line (every term, accuracy, throughput) printed
/// after each epoch; when the output is redirected, just those epoch lines, each with the run's estimated time left.
/// </summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    // The bar, percentage, elapsed and remaining columns and their padding take about this much of a line.
    private const int FixedColumns = 46;

    private readonly ProgressContext? context;
    private readonly Dictionary<string, ProgressTask> tasks = [];
    private readonly Dictionary<string, (DateTime Start, double Done)> starts = [];

    private ConsoleProgress(ProgressContext? context) => this.context = context;

    /// <summary>Runs <paramref name="work"/> with a progress display suited to the console.</summary>
    public static T Run<T>(Func<IProgress<TrainingProgress>, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return work(new ConsoleProgress(null));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = 20 },
                new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx => work(new ConsoleProgress(ctx)));
    }

    public void Report(TrainingProgress value)
    {
        double done = ((value.Epoch - 1) * (double)value.Steps) + value.Step;
        double total = value.Epochs * (double)value.Steps;
        if (value.Note is not null)
        {
            Print($"{value.Run}: {value.Note}");
            starts[value.Run] = (DateTime.UtcNow, done);
            return;
        }
        if (!starts.ContainsKey(value.Run)) starts[value.Run] = (DateTime.UtcNow, 0);

        if (value.TestAccuracy is double test)
        {
            // G3: feature terms range from 1e-5 (PKT) to 10 (DKD); a fixed number of decimals would show 0.000.
            string terms = string.Join(' ', value.Terms.Select(t => F($"{t.Key} {t.Value:G3}")));
            Print(F($"{value.Run} e{value.Epoch}/{value.Epochs} {terms} train {value.TrainAccuracy:P1} {value.ImagesPerSecond:F0} img/s test {test:P2}{Eta(value.Run, done, total)}"));
        }
        if (context is null) return;

        if (!tasks.TryGetValue(value.Run, out ProgressTask? task))
        {
            task = context.AddTask(Markup.Escape(value.Run), maxValue: total);
            tasks[value.Run] = task;
        }
        string main = value.Terms.Count == 0 ? "" : F($" {value.Terms.First().Key} {value.Terms.First().Value:G3}");
        task.Description = Markup.Escape(Fit(F($"{value.Run} e{value.Epoch}/{value.Epochs}{main}"), AnsiConsole.Profile.Width - FixedColumns));
        task.Value = done;
    }

    /// <summary>The time left for the run at its pace since this process first saw it (resumed epochs excluded).</summary>
    private string Eta(string run, double done, double total)
    {
        (DateTime start, double first) = starts[run];
        if (done >= total || done <= first) return "";
        TimeSpan left = (DateTime.UtcNow - start) * ((total - done) / (done - first));
        return left.TotalHours >= 1 ? F($", {(int)left.TotalHours}h{left.Minutes:00}m left") : F($", {left.Minutes}m{left.Seconds:00}s left");
    }

    private void Print(string line)
    {
        if (context is null) Console.WriteLine(line);
        else AnsiConsole.MarkupLine(Markup.Escape(line));
    }

    private static string Fit(string text, int width) => width < 8 || text.Length <= width ? text : text[..(width - 1)] + "…";

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
