using System.Globalization;
using GpuDistill.Experiments;
using Spectre.Console;

namespace GpuDistill.Cli.Commands;

/// <summary>The summary table printed at the end of a run.</summary>
internal static class ResultsTable
{
    public static void Print(ExperimentResults results, string directory)
    {
        var table = new Table().Title($"{Markup.Escape(results.Name)}: {Markup.Escape(results.Data)}")
            .AddColumns("method", "student", "loss", "seeds", "test accuracy", "gap recovered", "parameters", "time / run");
        table.AddRow("[bold]teacher[/]", Markup.Escape(results.Teacher.Model), "ce:1", "1",
            F($"{results.Teacher.FinalAccuracy * 100:F2}%"), "", F($"{results.Teacher.Parameters:N0}"), F($"{results.Teacher.TrainSeconds:F0} s"));
        foreach (SummaryRow r in results.Summary)
        {
            table.AddRow(Markup.Escape(r.Method), Markup.Escape(r.Student), Markup.Escape(r.Loss), F($"{r.Seeds}"),
                F($"{r.MeanAccuracy * 100:F2}% ± {r.StdAccuracy * 100:F2}"), r.GapRecovered is double g ? F($"{g:P0}") : "-",
                Markup.Escape(r.ParametersText), F($"{r.TrainSeconds:F0} s"));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"results: [link]{Markup.Escape(Path.GetFullPath(directory))}[/] (results.md, results.csv, results.json, *.png)");
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
