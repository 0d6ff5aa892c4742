using System.Globalization;
using System.Text;

namespace GpuDistill.Perf;

/// <summary>The Markdown summary: the goals of issue 7 met or not, with the measured ratios, and the tables behind them.</summary>
internal static class Summary
{
    private static readonly string[] LargeSizes = ["4096x1000", "256x32000", "64x128256"];

    public static string Write(IReadOnlyList<ResultRow> rows, string machine, string path, bool quick)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# GpuDistill performance summary").AppendLine();
        sb.AppendLine(Inv($"Machine: {machine}. {(quick ? "Quick run (--quick): fewer sizes, shorter timing, no relation kernels." : "Full run.")}"));
        sb.AppendLine("Medians after warm-up. \"fwd+bwd\" is one loss call through the TorchSharp autograd bridge plus its "
            + "backward, copies between tensors and accelerator buffers included (the CPU backends read the tensors' memory, "
            + "so they copy nothing); \"kernel only\" is the computation alone on buffers filled once.");
        sb.AppendLine();
        Goals(sb, rows);
        MethodStepBenchmark.AppendGoals(sb, rows);
        Tables(sb, rows);
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static void Goals(StringBuilder sb, IReadOnlyList<ResultRow> rows)
    {
        sb.AppendLine("## Goals (issue 7, CPU)").AppendLine();
        sb.AppendLine("| goal | backend | measured | met |").AppendLine("|---|---|---|---|");
        foreach (string backend in FusedCpuBackends(rows))
        {
            foreach (string size in new[] { "4096x1000", "256x32000" })
            {
                if (Find(rows, backend, size) is { } r)
                    Goal(sb, $">= 5x faster than the composite at {size}", backend, r.SpeedupOverComposite, "x", r.SpeedupOverComposite >= 5);
            }
            if (Find(rows, backend, "256x10") is { } small)
                Goal(sb, "no slower than the composite at 256x10", backend, small.SpeedupOverComposite, "x", small.SpeedupOverComposite >= 1);
            foreach (string size in LargeSizes)
            {
                if (Find(rows, backend, size) is { } r)
                    Goal(sb, $"within 5x of the streaming floor at {size}", backend, 1 / r.FractionOfFloor, "x the floor", r.FractionOfFloor >= 0.2);
                // The same without the bridge: what the arithmetic alone costs against the bytes it must move.
                if (Find(rows, backend, size, "kernel only") is { } k)
                    Goal(sb, $"(kernel only) within 5x of the streaming floor at {size}", backend, 1 / k.FractionOfFloor, "x the floor", k.FractionOfFloor >= 0.2);
            }
        }
        List<ResultRow> steps = rows.Where(r => r.Kernel == TrainingStepBenchmark.Kernel && r.Mode == "step").ToList();
        ResultRow? ce = rows.FirstOrDefault(r => r.Kernel == TrainingStepBenchmark.Kernel && r.Backend == TrainingStepBenchmark.CrossEntropy);
        foreach (ResultRow step in steps.Where(r => r.Backend.StartsWith(TrainingStepBenchmark.DistillPrefix, StringComparison.Ordinal)))
        {
            // Whole steps, interleaved: the direct measure, but as noisy as the machine (p20s are shown as well).
            string backend = step.Backend[TrainingStepBenchmark.DistillPrefix.Length..];
            double overhead = step.Timing.MedianMs / step.CompositeMs - 1;
            ResultRow student = steps[0], teacher = steps[1];
            double overheadP20 = step.Timing.P20Ms / (student.Timing.P20Ms + teacher.Timing.P20Ms) - 1;
            sb.AppendLine(Inv($"| distillation overhead per training step < 5% (whole steps, medians; p20s: {overheadP20 * 100:0.#}%) | {backend} | {overhead * 100:0.#} % | {(overhead < 0.05 ? "yes" : "**no**")} |"));
            // The loss call's own cost over the plain step's cross-entropy, against the same step: what the loss path adds.
            ResultRow? kd = rows.FirstOrDefault(r => r.Kernel == TrainingStepBenchmark.Kernel && r.Backend == TrainingStepBenchmark.LossCallPrefix + backend);
            if (kd is not null && ce is not null)
            {
                double lossOverhead = (kd.Timing.MedianMs - ce.Timing.MedianMs) / step.CompositeMs;
                Goal(sb, "loss path's share of that overhead: (KD+CE call - CE call) / (student step + teacher forward)", backend,
                    lossOverhead * 100, "%", lossOverhead < 0.05);
            }
        }
        foreach (string step in new[] { TrainingStepBenchmark.PlainStep, TrainingStepBenchmark.KDStep })
        {
            // GpuDistill's images per second over PyTorch's for the same step, run side by side (issue 15).
            if (rows.FirstOrDefault(r => r.Kernel == TrainingStepBenchmark.PyTorchKernel && r.Backend == "gpudistill " + step
                    && r.Mode == "step") is { } mine && !double.IsNaN(mine.CompositeMs))
                Goal(sb, $"{step} at least as fast as PyTorch's (img/s ratio)", "default", mine.SpeedupOverComposite, "x", mine.SpeedupOverComposite >= 1);
        }
        sb.AppendLine();
    }

    private static void Goal(StringBuilder sb, string goal, string backend, double value, string unit, bool met) =>
        sb.AppendLine(Inv($"| {goal} | {backend} | {value:0.##} {unit} | {(met ? "yes" : "**no**")} |"));

    private static void Tables(StringBuilder sb, IReadOnlyList<ResultRow> rows)
    {
        foreach (IGrouping<string, ResultRow> kernel in rows.GroupBy(r => r.Kernel))
        {
            sb.AppendLine(Inv($"## {kernel.Key}")).AppendLine();
            bool step = kernel.Key == TrainingStepBenchmark.Kernel;
            if (kernel.Key == TrainingStepBenchmark.PyTorchKernel)
            {
                sb.AppendLine("| backend | size | mode | median ms | p20 | p80 | GpuDistill img/s over PyTorch's |").AppendLine("|---|---|---|---|---|---|---|");
                foreach (ResultRow r in kernel)
                    sb.AppendLine(Inv($"| {r.Backend} | {r.Size} | {r.Mode} | {r.Timing.MedianMs:0.###} | {r.Timing.P20Ms:0.###} | {r.Timing.P80Ms:0.###} | {Ratio(r.SpeedupOverComposite)} |"));
                sb.AppendLine();
                continue;
            }
            sb.AppendLine(step
                ? "| backend | size | mode | median ms | p20 | p80 | vs student step + teacher forward |"
                : "| backend | size | mode | median ms | p20 | p80 | GB/s | vs composite | fraction of floor |");
            sb.AppendLine(step ? "|---|---|---|---|---|---|---|" : "|---|---|---|---|---|---|---|---|---|");
            foreach (ResultRow r in kernel)
            {
                sb.AppendLine(step
                    ? Inv($"| {r.Backend} | {r.Size} | {r.Mode} | {r.Timing.MedianMs:0.###} | {r.Timing.P20Ms:0.###} | {r.Timing.P80Ms:0.###} | {Ratio(r.Timing.MedianMs / r.CompositeMs)} |")
                    : Inv($"| {r.Backend} | {r.Size} | {r.Mode} | {r.Timing.MedianMs:0.###} | {r.Timing.P20Ms:0.###} | {r.Timing.P80Ms:0.###} | {r.GigabytesPerSecond:0.##} | {Ratio(r.SpeedupOverComposite)} | {Ratio(r.FractionOfFloor)} |"));
            }
            sb.AppendLine();
        }
    }

    /// <summary>The fused backends that run on the CPU (the goals are about them), best first.</summary>
    private static IEnumerable<string> FusedCpuBackends(IReadOnlyList<ResultRow> rows) =>
        rows.Where(r => r.Kernel == SoftmaxKLBenchmark.Kernel && r.Mode == "fwd+bwd"
                && (r.Backend == "simd" || r.Backend.StartsWith("ilgpu-cpu row/thread", StringComparison.Ordinal)))
            .Select(r => r.Backend).Distinct().OrderBy(b => b == "simd" ? 0 : 1);

    private static ResultRow? Find(IReadOnlyList<ResultRow> rows, string backend, string size, string mode = "fwd+bwd") =>
        rows.FirstOrDefault(r => r.Kernel == SoftmaxKLBenchmark.Kernel && r.Backend == backend && r.Size == size && r.Mode == mode);

    private static string Ratio(double v) => double.IsNaN(v) ? "" : v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
