using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Training;
using ScottPlot;

namespace GpuDistill.Search;

/// <summary>
/// The files of a student search: <c>candidates.csv</c> (every candidate with its measured cost and accuracy),
/// <c>search.md</c> (budget, winner, the Pareto fronts, the search's own cost next to the teacher's training),
/// <c>pareto.png</c> (validation accuracy against parameters and against latency, fronts joined),
/// <c>search.json</c>, and <c>winner-recipe.json</c> (the winner and small-cnn, alone and with KD, 3 seeds).
/// </summary>
public static class SearchReport
{
    /// <summary>Writes the files.</summary>
    /// <param name="result">The search.</param>
    /// <param name="directory">Where.</param>
    /// <param name="winnerRecipe">The recipe to write as <c>winner-recipe.json</c>.</param>
    /// <param name="teacherTrainSeconds">The teacher's training time, to compare the search's cost with (NaN when unknown).</param>
    /// <param name="command">The command line that ran the search, for the record.</param>
    public static void Write(SearchResult result, string directory, Recipe winnerRecipe, double teacherTrainSeconds, string command)
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(winnerRecipe);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, "candidates.csv"), Csv(result));
        AtomicFile.WriteAllText(Path.Combine(directory, "search.md"), Markdown(result, teacherTrainSeconds, command));
        AtomicFile.WriteAllText(Path.Combine(directory, "search.json"), JsonSerializer.Serialize(result, ResultJson.Options));
        AtomicFile.WriteAllText(Path.Combine(directory, "winner-recipe.json"), RecipeLoader.ToJson(winnerRecipe));
        Plot(result).SavePng(Path.Combine(directory, "pareto.png"), 1000, 1100);
    }

    /// <summary>
    /// The recipe that checks the winner: <paramref name="template"/>'s data, teacher and schedule, students the winner
    /// and <paramref name="baseline"/>, methods none and kd, seeds 1-3 (the winner named by its shape, which
    /// <see cref="Models.ModelFactory"/> builds).
    /// </summary>
    public static Recipe WinnerRecipe(SearchResult result, Recipe template, string baseline = "small-cnn")
    {
        ArgumentNullException.ThrowIfNull(result);
        ArgumentNullException.ThrowIfNull(template);
        MethodRegistry registry = template.Settings.Registry;
        return template with
        {
            Name = $"searched student {result.Winner.Architecture} vs {baseline}",
            Data = template.Data with { ValidationPerClass = 0 },
            Students = result.Winner.Architecture == baseline ? [baseline] : [result.Winner.Architecture, baseline],
            Methods = [MethodSection.BuiltIn(registry.Method("none")), MethodSection.BuiltIn(registry.Method("kd"))],
            Schemes = [],
            Tuning = null,
            Seeds = [1, 2, 3],
        };
    }

    private static string Csv(SearchResult result)
    {
        var text = new StringBuilder("architecture,parameters,ms_per_image_batch1,ms_per_image_batch256,validation_accuracy,generation,train_seconds,pareto_params,pareto_latency,finalist_accuracy\n");
        var byParams = result.ParetoFront(c => c.Parameters).ToHashSet();
        var byLatency = result.ParetoFront(c => c.MillisecondsBatch1).ToHashSet();
        foreach (SearchCandidate c in result.Candidates)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"{c.Architecture},{c.Parameters},{c.MillisecondsBatch1:F5},{c.MillisecondsBatch256:F6},{c.ValidationAccuracy:F4},{c.Generation},{c.TrainSeconds:F1},{byParams.Contains(c)},{byLatency.Contains(c)},{c.FinalistAccuracy:F4}");
        }
        return text.ToString();
    }

    private static string Markdown(SearchResult result, double teacherTrainSeconds, string command)
    {
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        var text = new StringBuilder("# Teacher-guided student search\n\n");
        text.AppendLine(CultureInfo.InvariantCulture, $"Command: `{command}`").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Machine: {MachineDescription.Current}; load average when written: {load}.").AppendLine()
            .AppendLine(Budget(result))
            .AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Winner: **{result.Winner.Architecture}**, {result.Winner.Parameters:N0} parameters, {result.Winner.MillisecondsBatch1:F4} ms/image at batch 1, validation accuracy {result.Winner.ValidationAccuracy:P2}{Final(result.Winner, result.Options)}. Recipe: winner-recipe.json (`gpudistill run winner-recipe.json`).")
            .AppendLine()
            .AppendLine(Cost(result, teacherTrainSeconds))
            .AppendLine()
            .AppendLine("Latency: ONNX Runtime, one intra-op thread, median per image of timed runs after warm-up, measured while the search ran (see the load).")
            .AppendLine()
            .AppendLine("| architecture | parameters | ms/img b1 | ms/img b256 | validation accuracy | generation | Pareto (params) | Pareto (latency) | finalist accuracy |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---|---|---:|");
        var byParams = result.ParetoFront(c => c.Parameters).ToHashSet();
        var byLatency = result.ParetoFront(c => c.MillisecondsBatch1).ToHashSet();
        foreach (SearchCandidate c in result.Candidates.OrderByDescending(c => c.ValidationAccuracy))
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {c.Architecture} | {c.Parameters:N0} | {c.MillisecondsBatch1:F4} | {c.MillisecondsBatch256:F5} | {c.ValidationAccuracy * 100:F2} | {c.Generation} | {(byParams.Contains(c) ? "yes" : "")} | {(byLatency.Contains(c) ? "yes" : "")} | {c.FinalistAccuracy * 100:F2} |");
        }
        return text.ToString();
    }

    private static string Budget(SearchResult result)
    {
        SearchOptions o = result.Options;
        string latency = o.BudgetMilliseconds is double ms ? string.Create(CultureInfo.InvariantCulture, $", {ms} ms per image at batch 1") : "";
        return string.Create(CultureInfo.InvariantCulture,
            $"Budget: {o.BudgetParameters:N0} parameters{(o.MinimumBudgetShare > 0 ? $" (candidates below {o.MinimumBudgetShare * 100:F0}% of it rejected)" : "")}{latency}. Space: {string.Join(", ", o.Space.Families)}{(o.Space.SeparableChoices.Contains(true) ? " (depthwise-separable stages allowed)" : "")}. Evolutionary: population {o.Population}, {o.Generations} generations, each candidate {o.Epochs} epoch(s) of `{o.Loss}` on {result.TrainImages:N0} images, fitness = accuracy on {result.ValidationImages:N0} held-out training images (never the test set){Finalists(o)}.");
    }

    private static string Finalists(SearchOptions o) => o.Finalists == 0
        ? ""
        : string.Create(CultureInfo.InvariantCulture,
            $"; then the best {o.Finalists} trained again for {o.FinalistEpochs} epochs, and the best of them on the same images wins (finalist accuracy)");

    private static string Final(SearchCandidate c, SearchOptions o) => c.FinalistAccuracy is double a
        ? string.Create(CultureInfo.InvariantCulture, $" after {o.Epochs} epoch(s), {a:P2} after the finalists' {o.FinalistEpochs}")
        : "";

    private static string Cost(SearchResult result, double teacherTrainSeconds)
    {
        string teacher = double.IsNaN(teacherTrainSeconds)
            ? "."
            : string.Create(CultureInfo.InvariantCulture, $"; the teacher's training took {teacherTrainSeconds:F0} s (the search cost {result.SearchSeconds / teacherTrainSeconds:P0} of it).");
        return string.Create(CultureInfo.InvariantCulture,
            $"Search cost: {result.SearchSeconds:F0} s wall ({result.Candidates.Count} candidates trained, {result.Candidates.Sum(c => c.TrainSeconds):F0} s of training; {result.Rejected} drawn and rejected for the budget){teacher}");
    }

    /// <summary>The two Pareto panels, accuracy against parameters and against latency (nothing else).</summary>
    internal static Multiplot Plot(SearchResult result)
    {
        // Multiplot's parameterless constructor starts with an empty plot of its own, which became a blank panel.
        var multiplot = new Multiplot(Panel(result, c => c.Parameters, "parameters"));
        multiplot.AddPlot(Panel(result, c => c.MillisecondsBatch1, "ms per image at batch 1 (ONNX Runtime, 1 thread)"));
        return multiplot;
    }

    private static Plot Panel(SearchResult result, Func<SearchCandidate, double> cost, string label)
    {
        var plot = new Plot();
        var all = plot.Add.ScatterPoints(result.Candidates.Select(cost).ToArray(), result.Candidates.Select(c => c.ValidationAccuracy * 100).ToArray());
        all.LegendText = "candidates";
        IReadOnlyList<SearchCandidate> front = result.ParetoFront(cost);
        var line = plot.Add.Scatter(front.Select(cost).ToArray(), front.Select(c => c.ValidationAccuracy * 100).ToArray());
        line.LegendText = "Pareto front";
        var winner = plot.Add.ScatterPoints(new[] { cost(result.Winner) }, new[] { result.Winner.ValidationAccuracy * 100 });
        winner.LegendText = $"winner {result.Winner.Architecture}";
        winner.MarkerSize = 12;
        plot.XLabel(label);
        plot.YLabel("validation accuracy (%)");
        plot.Title($"Accuracy against {label.Split(' ')[0]}");
        plot.ShowLegend(Alignment.LowerRight);
        return plot;
    }
}
