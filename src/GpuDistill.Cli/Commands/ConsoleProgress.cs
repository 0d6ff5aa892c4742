using System.Globalization;
using GpuDistill.Training;
using Spectre.Console;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// Shows training progress: a live bar per run (loss terms, accuracy, throughput) on a terminal, one line per
/// epoch when the output is redirected.
/// </summary>
internal sealed class ConsoleProgress : IProgress<TrainingProgress>
{
    private readonly ProgressContext? context;
    private readonly Dictionary<string, ProgressTask> tasks = [];

    private ConsoleProgress(ProgressContext? context) => this.context = context;

    /// <summary>Runs <paramref name="work"/> with a progress display suited to the console.</summary>
    public static T Run<T>(Func<IProgress<TrainingProgress>, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
            return work(new ConsoleProgress(null));
        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx => work(new ConsoleProgress(ctx)));
    }

    public void Report(TrainingProgress value)
    {
        // G3: feature terms range from 1e-5 (PKT) to 10 (DKD); a fixed number of decimals would show 0.000.
        string terms = string.Join(' ', value.Terms.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Key} {t.Value:G3}")));
        string line = string.Create(CultureInfo.InvariantCulture,
            $"{value.Run} e{value.Epoch}/{value.Epochs} {terms} train {value.TrainAccuracy:P1} {value.ImagesPerSecond:F0} img/s");
        if (value.TestAccuracy is double test) line += string.Create(CultureInfo.InvariantCulture, $" test {test:P2}");

        if (context is null)
        {
            if (value.TestAccuracy is not null) Console.WriteLine(line);
            return;
        }
        if (!tasks.TryGetValue(value.Run, out ProgressTask? task))
        {
            task = context.AddTask(Markup.Escape(value.Run), maxValue: value.Epochs * (double)value.Steps);
            tasks[value.Run] = task;
        }
        task.Description = Markup.Escape(line);
        task.Value = (value.Epoch - 1) * (double)value.Steps + value.Step;
    }
}
