using System.Globalization;
using System.Text;
using System.Text.Json;
using GpuDistill.Experiments;
using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Deployment;

/// <summary>One model's serving cost in ONNX Runtime, as a row of <see cref="DeploymentTable"/>.</summary>
/// <param name="Scheme">The scheme that trained it ("teacher" for the recipe's teacher, "float" for an untrained
/// float copy of a student architecture, which costs what the trained one costs).</param>
/// <param name="Role">Its role within the scheme (e.g. "w4a4"); empty for none.</param>
/// <param name="Student">The recipe's student the row belongs to ("" for the teacher).</param>
/// <param name="Seed">The run's seed (0 where none).</param>
/// <param name="Model">Its architecture.</param>
/// <param name="Precision">"float32" or the quantization, e.g. "4-bit weights, 4-bit activations (RunningRange)".</param>
/// <param name="Parameters">Its parameter count.</param>
/// <param name="Accuracy">Its test accuracy (NaN where not trained).</param>
/// <param name="Cost">The ONNX file's size and latencies; null where the model could not be exported (see <paramref name="Remark"/>).</param>
/// <param name="Remark">Why there is no cost; null otherwise.</param>
public sealed record DeploymentRow(string Scheme, string Role, string Student, int Seed, string Model, string Precision,
    long Parameters, double Accuracy, OnnxLatencyResult? Cost, string? Remark = null);

/// <summary>
/// The deployment table of an experiment's quantized rows: each trained model exported to ONNX (QDQ for a quantized
/// one, <see cref="Export.ToOnnx(DistillModel, string)"/>), its file size and its latency per image at batch 1 and 256
/// in ONNX Runtime (<see cref="OnnxLatency"/>), next to the teacher's float export and the float student's.
/// Kept as <c>deployment.json</c> (rows added as the schemes finish) and written as <c>deployment.md</c> in the
/// experiment's output directory, with the machine and its load average at the time.
/// </summary>
public static class DeploymentTable
{
    /// <summary>The rows' file in the output directory.</summary>
    public const string JsonFile = "deployment.json";

    /// <summary>The table's file in the output directory.</summary>
    public const string MarkdownFile = "deployment.md";

    /// <summary>Timed runs per batch size (median reported).</summary>
    public const int Repeats = 15;

    private static readonly Lock Gate = new();

    /// <summary>
    /// Exports <paramref name="model"/>, measures it, and adds its row (replacing one of the same scheme, role,
    /// student and seed); adds the teacher's and the float student's rows when they are missing; rewrites the table.
    /// </summary>
    /// <param name="outputDirectory">The experiment's output directory.</param>
    /// <param name="teacher">The recipe's teacher (float).</param>
    /// <param name="scheme">The scheme's name.</param>
    /// <param name="role">The row's role.</param>
    /// <param name="student">The recipe's student.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="model">The trained model (a <see cref="QuantizedModel"/> or a float model).</param>
    /// <param name="run">Its training record.</param>
    /// <returns>The model's row.</returns>
    public static DeploymentRow Add(string outputDirectory, DistillModel teacher, string scheme, string role, string student, int seed,
        DistillModel model, TrainingRun run)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(run);
        lock (Gate)
        {
            List<DeploymentRow> rows = Read(outputDirectory);
            string onnx = Path.Combine(outputDirectory, "onnx");
            if (!rows.Any(r => r.Scheme == "teacher"))
                rows.Add(Measure(teacher, Path.Combine(onnx, "teacher.onnx"), "teacher", "", "", 0, double.NaN));
            if (!rows.Any(r => r.Scheme == "float" && r.Model == model.Architecture))
            {
                using DistillModel plain = ModelFactory.Create(model.Architecture, 0);
                rows.Add(Measure(plain, Path.Combine(onnx, $"float-{model.Architecture}.onnx"), "float", "", "", 0, double.NaN));
            }
            DeploymentRow row = Measure(model, Path.Combine(onnx, Safe($"{scheme}-{role}-{student}-seed{seed}") + ".onnx"),
                scheme, role, student, seed, run.FinalAccuracy);
            rows.RemoveAll(r => r.Scheme == scheme && r.Role == role && r.Student == student && r.Seed == seed);
            rows.Add(row);
            AtomicFile.WriteAllText(Path.Combine(outputDirectory, JsonFile), JsonSerializer.Serialize(rows, ResultJson.Options));
            AtomicFile.WriteAllText(Path.Combine(outputDirectory, MarkdownFile), Markdown(rows));
            return row;
        }
    }

    /// <summary>The rows kept in <paramref name="outputDirectory"/> (none when there is no table yet).</summary>
    public static List<DeploymentRow> Read(string outputDirectory)
    {
        string path = Path.Combine(outputDirectory, JsonFile);
        return File.Exists(path) ? JsonSerializer.Deserialize<List<DeploymentRow>>(File.ReadAllText(path), ResultJson.Options) ?? [] : [];
    }

    /// <summary>A short note for a results row: size and latencies, and their ratio to the teacher's.</summary>
    public static string Note(DeploymentRow row, DeploymentRow? teacher)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Cost is not { } c) return row.Remark ?? "not exported";
        string note = string.Create(CultureInfo.InvariantCulture,
            $"ONNX {c.FileBytes / 1024.0:F1} KiB, {c.MillisecondsPerImageBatch1:F3} ms/img at b1, {c.MillisecondsPerImageBatch256:F4} at b256");
        return teacher?.Cost is { } t
            ? note + string.Create(CultureInfo.InvariantCulture, $" (teacher {t.FileBytes / 1024.0:F1} KiB, {t.MillisecondsPerImageBatch1:F3}, {t.MillisecondsPerImageBatch256:F4})")
            : note;
    }

    private static DeploymentRow Measure(DistillModel model, string path, string scheme, string role, string student, int seed, double accuracy)
    {
        string precision = model is QuantizedModel q ? q.Options.ToString() : "float32";
        try
        {
            Export.ToOnnx(model, path);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ArgumentException)
        {
            // Above 8 bits the QDQ form has no integer type; other exports the exporter refuses: the row says why.
            return new DeploymentRow(scheme, role, student, seed, model.Architecture, precision, model.ParameterCount, accuracy, null, e.Message);
        }
        OnnxLatencyResult cost = OnnxLatency.Measure(path, Repeats);
        return new DeploymentRow(scheme, role, student, seed, model.Architecture, precision, model.ParameterCount, accuracy, cost);
    }

    private static string Safe(string name) =>
        new([.. name.Select(ch => char.IsLetterOrDigit(ch) || ch is '-' or '_' or '.' ? ch : '_')]);

    private static string Markdown(List<DeploymentRow> rows)
    {
        var text = new StringBuilder();
        string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "unknown";
        text.AppendLine("# Deployment cost in ONNX Runtime").AppendLine()
            .AppendLine(CultureInfo.InvariantCulture, $"Machine: {MachineDescription.Current}. Load average when last written: {load}.")
            .AppendLine(CultureInfo.InvariantCulture, $"Latency: median of {Repeats} runs per batch size after warm-up, ONNX Runtime's default threads and graph optimisations; sizes are the .onnx files (QDQ: int8 weights).")
            .AppendLine("Accuracy: mean over seeds (test set); cost: median over seeds' files.").AppendLine()
            .AppendLine("| scheme | role | student | model | precision | params | seeds | accuracy | file KiB | ms/img b1 | ms/img b256 | size vs teacher | b1 speed-up | b256 speed-up |")
            .AppendLine("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        DeploymentRow? teacher = rows.FirstOrDefault(r => r.Scheme == "teacher");
        foreach (var group in rows.GroupBy(r => (r.Scheme, r.Role, r.Student, r.Model, r.Precision)))
        {
            double accuracy = group.Select(r => r.Accuracy).Average();
            OnnxLatencyResult[] costs = [.. group.Where(r => r.Cost is not null).Select(r => r.Cost!)];
            string acc = double.IsNaN(accuracy) ? "" : (accuracy * 100).ToString("F2", CultureInfo.InvariantCulture);
            string head = $"| {group.Key.Scheme} | {group.Key.Role} | {group.Key.Student} | {group.Key.Model} | {group.Key.Precision} | {group.First().Parameters:N0} | {(double.IsNaN(accuracy) ? "" : group.Count().ToString(CultureInfo.InvariantCulture))} | {acc}";
            if (costs.Length == 0)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{head} | {group.First().Remark} | | | | | |");
                continue;
            }
            double kib = Median(costs.Select(c => c.FileBytes / 1024.0)), b1 = Median(costs.Select(c => c.MillisecondsPerImageBatch1));
            double b256 = Median(costs.Select(c => c.MillisecondsPerImageBatch256));
            string ratios = teacher?.Cost is { } t
                ? string.Create(CultureInfo.InvariantCulture, $"{kib * 1024 / t.FileBytes:P1} | {t.MillisecondsPerImageBatch1 / b1:F1}x | {t.MillisecondsPerImageBatch256 / b256:F1}x")
                : " | | ";
            text.AppendLine(CultureInfo.InvariantCulture, $"{head} | {kib:F1} | {b1:F4} | {b256:F5} | {ratios} |");
        }
        return text.ToString();
    }

    private static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
