using System.Globalization;
using GpuDistill.Experiments;
using Spectre.Console;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// The summary table printed at the end of a run, within the terminal's width: below 120 columns it leaves out the
/// loss and the parameters and shortens the headers (results.md keeps every column).
/// </summary>
internal static class ResultsTable
{
    public static void Print(ExperimentResults results, string directory)
    {
        bool wide = AnsiConsole.Profile.Width >= 120;
        var table = new Table().Title($"{Markup.Escape(results.Name)}: {Markup.Escape(results.Data)}");
        table.AddColumn("method").AddColumn("student");
        if (wide) table.AddColumn("loss");
        table.AddColumns(wide ? "seeds" : "n", wide ? "test accuracy" : "accuracy", wide ? "gap recovered" : "gap");
        if (wide) table.AddColumn("parameters");
        table.AddColumn(wide ? "time / run" : "time");

        if (results.HasTeacher)
        {
            AddRow("[bold]teacher[/]", Markup.Escape(results.Teacher.Model), "ce:1", "1", F($"{results.Teacher.FinalAccuracy * 100:F2}%"), "",
                F($"{results.Teacher.Parameters:N0}"), F($"{results.Teacher.TrainSeconds:F0} s"));
        }
        foreach (SummaryRow r in results.Summary)
        {
            AddRow(Markup.Escape(r.Method), Markup.Escape(r.Student), Markup.Escape(r.Loss), F($"{r.Seeds}"),
                F($"{r.MeanAccuracy * 100:F2}% ± {r.StdAccuracy * 100:F2}"), r.GapRecovered is double g ? F($"{g:P0}") : "-",
                Markup.Escape(r.ParametersText), F($"{r.TrainSeconds:F0} s"));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"results: [link]{Markup.Escape(Path.GetFullPath(directory))}[/] (results.md, results.csv, results.json, *.png)");

        void AddRow(string method, string student, string loss, string seeds, string accuracy, string gap, string parameters, string time) =>
            table.AddRow(wide ? [method, student, loss, seeds, accuracy, gap, parameters, time] : [method, student, seeds, accuracy, gap, time]);
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
