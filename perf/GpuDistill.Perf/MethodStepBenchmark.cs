using System.Globalization;
using System.Text;
using GpuDistill.Data;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Perf;

/// <summary>
/// What each method adds to a training step, through the trainer as training runs it: every built-in method of the
/// registry (none alone as the baseline) trains the small CNN and the MLP for a few epochs of 128-image batches on the
/// embedded subset, the teacher's outputs and layers cached as in a real run, on the default backend. The per-step
/// time of an epoch (evaluation excluded) is measured in interleaved rounds; the method's cost is its step over the
/// student's own step (forward, cross-entropy, backward, optimiser) minus one. Goal (issue 15): at most 10%.
/// </summary>
internal static class MethodStepBenchmark
{
    public const string Kernel = "method-step";

    /// <summary>The goal: a method's loss terms cost at most this share of the student's own step.</summary>
    public const double Goal = 0.10;

    private const int Batch = 128;

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        int steps = settings.Quick ? 6 : 16, rounds = settings.Quick ? 2 : 4;
        (ImageDataset fullTrain, ImageDataset fullTest) = FashionMnist.LoadEmbedded();
        ImageDataset train = fullTrain.StratifiedSample(steps * Batch / 10, 1, "method-step slice");
        ImageDataset test = fullTest.StratifiedSample(5, 1, "method-step slice");
        // Timing only: one stage epoch for MHGD's own stage, which runs before the timed epochs.
        MethodSettingsMap methodSettings = MethodSettingsMap.Defaults.Set("mhgd", "stageEpochs", "1");
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);

        foreach (string student in settings.Quick ? ["small-cnn"] : new[] { "small-cnn", "mlp" })
        {
            // Each method's teacher outputs with the layers it reads; a method that cannot read this student is left out.
            var runnable = new List<(string Name, LossSpec Loss, TeacherOutputs Outputs)>();
            foreach (BuiltInMethod method in MethodRegistry.Default.Methods)
            {
                if (settings.Methods is not null && !settings.Methods.Contains(method.Name)) continue;
                LossSpec loss = LossSpec.Parse(method.Loss);
                try
                {
                    using DistillModel probe = ModelFactory.Create(student, 0);
                    string[] layers = [.. loss.Create(methodSettings).Terms.Select(t => t.Term).OfType<IFeatureTerm>()
                        .SelectMany(t => { t.Bind(probe, teacher); return t.TeacherLayers; }).Distinct()];
                    runnable.Add((method.Name, loss, TeacherOutputs.Create(teacher, train, cache: true, layers)));
                }
                catch (ArgumentException e)
                {
                    Console.WriteLine($"  {method.Name} on {student}: not run ({e.Message.Split(" (Parameter")[0]})");
                }
            }

            var perStep = runnable.Select(_ => new List<double>()).ToArray();
            for (int round = 0; round < rounds; round++)
            {
                for (int m = 0; m < runnable.Count; m++)
                {
                    if (round > 0 && perStep[m].Count == 0) continue;
                    using DistillModel model = ModelFactory.Create(student, round);
                    var options = new TrainingOptions { Epochs = 2, BatchSize = Batch, LearningRate = 0.01, Seed = round + 1 };
                    TrainingRun run;
                    try
                    {
                        run = new Trainer(options).Fit(runnable[m].Name, model, runnable[m].Loss.Create(methodSettings), train, test,
                            runnable[m].Outputs, null, resume: false);
                    }
                    catch (ArgumentException e) when (round == 0)
                    {
                        // A method whose adapter cannot take this student's layers (FitNets' regressor wants feature
                        // maps; the MLP has vectors) is refused when the trainer builds it, not by the probe above.
                        Console.WriteLine($"  {runnable[m].Name} on {student}: not run ({e.Message.Split(" (Parameter")[0]})");
                        continue;
                    }
                    // The second epoch: the first warms up (kernel compilation, first allocations).
                    perStep[m].Add(run.Epochs[^1].Seconds * 1000 / steps);
                }
            }

            double baseline = Timing.Of(perStep[runnable.FindIndex(r => r.Name == "none")]).MedianMs;
            for (int m = 0; m < runnable.Count; m++)
            {
                // A method refused in the first round has no times and no row.
                if (perStep[m].Count > 0)
                    yield return new ResultRow(Kernel, runnable[m].Name, student, $"train step, batch {Batch}", Timing.Of(perStep[m]), 0, baseline);
                runnable[m].Outputs.Dispose();
            }
        }
    }

    /// <summary>The goal table: each method's added cost per step against the student's own step, met or not.</summary>
    public static void AppendGoals(StringBuilder sb, IReadOnlyList<ResultRow> rows)
    {
        List<ResultRow> methods = [.. rows.Where(r => r.Kernel == Kernel && r.Backend != "none")];
        if (methods.Count == 0) return;
        sb.AppendLine("## Goal (issue 15): each method's loss terms at most 10% of the student's own step").AppendLine();
        sb.AppendLine("Per-step time of a training epoch (batch 128, teacher outputs cached, default backend) over the same for the "
            + "student alone (`none`), minus one; medians of interleaved rounds.").AppendLine();
        sb.AppendLine("| method | student | step ms | student alone ms | added | met |").AppendLine("|---|---|---|---|---|---|");
        foreach (ResultRow r in methods)
        {
            double added = r.Timing.MedianMs / r.CompositeMs - 1;
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Backend} | {r.Size} | {r.Timing.MedianMs:F1} | {r.CompositeMs:F1} | {added * 100:F0} % | {(added <= Goal ? "yes" : "**no**")} |"));
        }
        sb.AppendLine();
    }
}
