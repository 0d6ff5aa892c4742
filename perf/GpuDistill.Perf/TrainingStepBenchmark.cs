using System.Diagnostics;
using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Models;
using GpuDistill.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// End to end on the Fashion-MNIST models: one distillation step (teacher-cnn forward without gradient, small-cnn
/// forward, KD at T = 4 with 0.9 soft and 0.1 hard weight, backward, Nesterov step; batch 128) against one plain
/// student step (the same with cross-entropy alone) plus one teacher forward. The difference is what distillation
/// adds; the fused loss's own call is timed too, to show where that difference is spent. Then the same steps against
/// PyTorch (<see cref="AgainstPyTorch"/>, its own entry of the suite).
/// </summary>
internal static class TrainingStepBenchmark
{
    public const string Kernel = "train-step";
    public const int Batch = 128;
    public const double Temperature = 4.0;

    /// <summary>Backend name of the plain student step (cross-entropy only).</summary>
    public const string StudentStep = "student step (CE)";

    /// <summary>Backend name of the teacher's forward pass.</summary>
    public const string TeacherForward = "teacher forward";

    /// <summary>Prefix of the distillation steps' backend names.</summary>
    public const string DistillPrefix = "distill step, KD on ";

    /// <summary>Backend name of the cross-entropy call alone.</summary>
    public const string CrossEntropy = "cross-entropy (torchsharp)";

    /// <summary>Prefix of the KD+CE loss calls' backend names.</summary>
    public const string LossCallPrefix = "KD+CE on ";

    /// <summary>Kernel name of the side-by-side comparison with the same steps written in PyTorch.</summary>
    public const string PyTorchKernel = "train-step-vs-pytorch";

    /// <summary>Backend names of the compared steps (GpuDistill's and PyTorch's rows share them, with a prefix).</summary>
    public const string PlainStep = "small-cnn CE step", KDStep = "KD step (teacher forward + small-cnn KD step)",
        TeacherOnly = "teacher-cnn forward";

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        using var outer = NewDisposeScope();
        (DistillModel student, DistillModel teacher, NesterovSgd optimizer, Tensor images, Tensor labels) = Setup();
        using var studentScope = student;
        using var teacherScope = teacher;

        var names = new List<string> { StudentStep, TeacherForward };
        var actions = new List<Action>
        {
            () => Step(student, optimizer, images, logits => nn.functional.cross_entropy(logits, labels)),
            () =>
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                teacher.ForwardLogits(images);
            },
        };
        foreach ((string name, ComputeDevice device) in settings.Devices)
        {
            names.Add(DistillPrefix + name);
            actions.Add(() => DistillStep(student, teacher, optimizer, images, labels,
                (s, t) => GpuDistill.Losses.SoftmaxKL(s, t, Temperature, labels, softWeight: 0.9, hardWeight: 0.1, device: device)));
        }
        names.Add(DistillPrefix + "torchsharp-composite");
        actions.Add(() => DistillStep(student, teacher, optimizer, images, labels, (s, t) => CompositeKD(s, t, labels)));

        Timing[] timings = Timing.MeasureInterleaved(actions, warmup: 3, minRounds: 10, maxRounds: settings.Quick ? 40 : 200,
            maxSeconds: settings.Quick ? 15 : 60);
        double reference = timings[0].MedianMs + timings[1].MedianMs;
        for (int i = 0; i < names.Count; i++)
            yield return new ResultRow(Kernel, names[i], $"batch {Batch}", "step", timings[i], 0, reference);

        // The loss calls alone on the step's logits, forward and backward, to attribute the overhead.
        Tensor studentLogits = randn(Batch, DistillModel.ClassCount).requires_grad_(true);
        Tensor teacherLogits = randn(Batch, DistillModel.ClassCount);
        Timing ce = Timing.Measure(() => LossCall(studentLogits, () => nn.functional.cross_entropy(studentLogits, labels)),
            minSeconds: settings.MinSeconds);
        yield return new ResultRow(Kernel, CrossEntropy, $"{Batch}x10", "loss fwd+bwd", ce, 0, double.NaN);
        foreach ((string name, ComputeDevice device) in settings.Devices)
        {
            Timing kd = Timing.Measure(() => LossCall(studentLogits, () => GpuDistill.Losses.SoftmaxKL(studentLogits, teacherLogits,
                Temperature, labels, softWeight: 0.9, hardWeight: 0.1, device: device)), minSeconds: settings.MinSeconds);
            yield return new ResultRow(Kernel, LossCallPrefix + name, $"{Batch}x10", "loss fwd+bwd", kd, 0, double.NaN);
        }
        Timing composite = Timing.Measure(() => LossCall(studentLogits, () => CompositeKD(studentLogits, teacherLogits, labels)),
            minSeconds: settings.MinSeconds);
        yield return new ResultRow(Kernel, LossCallPrefix + "torchsharp-composite", $"{Batch}x10", "loss fwd+bwd", composite, 0, double.NaN);
    }

    /// <summary>
    /// The plain student step, the KD step with a live teacher forward and the teacher's forward alone, each timed with
    /// its phases (teacher forward, student forward and loss, zero_grad and backward, optimizer step and freeing), and
    /// the same written in PyTorch (perf/step/torch_step.py) where /usr/bin/python3 has torch: same models, batch,
    /// optimiser and thread count, run right after in the same benchmark run. Each GpuDistill row's "vs composite" is
    /// PyTorch's median over GpuDistill's, i.e. GpuDistill's images per second over PyTorch's.
    /// </summary>
    public static IEnumerable<ResultRow> AgainstPyTorch(BenchmarkSettings settings)
    {
        using var outer = NewDisposeScope();
        (DistillModel student, DistillModel teacher, NesterovSgd optimizer, Tensor images, Tensor labels) = Setup();
        using var studentScope = student;
        using var teacherScope = teacher;
        int steps = settings.Quick ? 60 : 200;
        var phases = new Dictionary<string, string[]>
        {
            [PlainStep] = ["forward", "backward", "optimizer"],
            [KDStep] = ["teacher_forward", "forward", "backward", "optimizer"],
            [TeacherOnly] = ["forward"],
        };
        var actions = new Dictionary<string, Action<List<long>>>
        {
            [PlainStep] = marks => Step(student, optimizer, images, logits => nn.functional.cross_entropy(logits, labels), marks),
            [KDStep] = marks => DistillStep(student, teacher, optimizer, images, labels,
                (s, t) => GpuDistill.Losses.SoftmaxKL(s, t, Temperature, labels, softWeight: 0.9, hardWeight: 0.1), marks),
            [TeacherOnly] = _ =>
            {
                using var scope = NewDisposeScope();
                using var noGrad = no_grad();
                teacher.ForwardLogits(images);
            },
        };
        string load = LoadAverage();
        Dictionary<string, PhaseTimings> ours = PhaseTimings.Measure(actions, phases, warmup: 20, steps);
        string? json = RunPyTorch(steps);
        string version = "";
        Dictionary<string, PhaseTimings>? theirs = json is null ? null : PhaseTimings.FromPyTorchJson(json, phases,
            new Dictionary<string, string> { [PlainStep] = "ce", [KDStep] = "kd", [TeacherOnly] = "teacher" }, out version);
        string peer = $"pytorch {version}";
        Console.WriteLine(theirs is null
            ? "train-step-vs-pytorch: /usr/bin/python3 has no torch (apt-get install python3-torch); GpuDistill's steps only."
            : $"train-step-vs-pytorch: GpuDistill (TorchSharp {typeof(torch).Assembly.GetName().Version}) against {peer}, {torch.get_num_threads()} threads, batch {Batch}, {steps} steps each; load average before {load}, after {LoadAverage()}");
        foreach (string name in phases.Keys)
        {
            PhaseTimings mine = ours[name];
            PhaseTimings? other = theirs?[name];
            if (other is not null)
                yield return new ResultRow(PyTorchKernel, $"{peer} {name}", $"batch {Batch}", "step", other.Total, 0, double.NaN);
            yield return new ResultRow(PyTorchKernel, $"gpudistill {name}", $"batch {Batch}", "step", mine.Total, 0,
                other?.Total.MedianMs ?? double.NaN);
            foreach (string phase in phases[name].Where(_ => phases[name].Length > 1))
            {
                if (other is not null)
                    yield return new ResultRow(PyTorchKernel, $"{peer} {name}", $"batch {Batch}", $"phase {phase}", other.Phases[phase], 0, double.NaN);
                yield return new ResultRow(PyTorchKernel, $"gpudistill {name}", $"batch {Batch}", $"phase {phase}", mine.Phases[phase], 0,
                    other?.Phases[phase].MedianMs ?? double.NaN);
            }
        }
        if (theirs is not null)
        {
            foreach (string name in phases.Keys)
            {
                double ratio = theirs[name].Total.MedianMs / ours[name].Total.MedianMs;
                Console.WriteLine(FormattableString.Invariant(
                    $"train-step-vs-pytorch: {name}: GpuDistill {Batch / ours[name].Total.MedianMs * 1e3:F0} img/s, PyTorch {Batch / theirs[name].Total.MedianMs * 1e3:F0} img/s, ratio {ratio:F2}"));
            }
        }
    }

    /// <summary>The models, optimiser and batch both benchmarks time: small-cnn learning, teacher-cnn in eval mode, batch
    /// <see cref="Batch"/> of random images and labels (seeded).</summary>
    private static (DistillModel Student, DistillModel Teacher, NesterovSgd Optimizer, Tensor Images, Tensor Labels) Setup()
    {
        DistillModel student = ModelFactory.Create("small-cnn", 1);
        DistillModel teacher = ModelFactory.Create("teacher-cnn", 2);
        teacher.eval();
        student.train();
        var optimizer = new NesterovSgd(student.parameters(), 0.01, 0.9, 5e-4);
        var random = new Random(3);
        Tensor images = randn(Batch, 1, DistillModel.ImageSize, DistillModel.ImageSize);
        Tensor labels = tensor(Enumerable.Range(0, Batch).Select(_ => (long)random.Next(DistillModel.ClassCount)).ToArray());
        return (student, teacher, optimizer, images, labels);
    }

    /// <summary>Runs perf/step/torch_step.py with /usr/bin/python3 if it has torch; its JSON, or null.</summary>
    private static string? RunPyTorch(int steps)
    {
        const string python = "/usr/bin/python3";
        string? script = FindUp(Path.Combine("perf", "step", "torch_step.py"));
        if (!File.Exists(python) || script is null) return null;
        var info = new System.Diagnostics.ProcessStartInfo(python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { script, "--threads", torch.get_num_threads().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--batch", Batch.ToString(System.Globalization.CultureInfo.InvariantCulture) })
            info.ArgumentList.Add(arg);
        using var process = System.Diagnostics.Process.Start(info);
        if (process is null) return null;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            string message = error.Result;
            if (!message.Contains("No module named 'torch'", StringComparison.Ordinal))
                Console.WriteLine($"train-step-vs-pytorch: {script} failed: {message}");
            return null;
        }
        return output.Trim().Split('\n').LastOrDefault();
    }

    /// <summary>A path relative to the working folder or one of its parents (the repository root), or null.</summary>
    private static string? FindUp(string relative)
    {
        for (DirectoryInfo? dir = new(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

    private static void LossCall(Tensor studentLogits, Func<Tensor> loss)
    {
        using var scope = NewDisposeScope();
        studentLogits.grad = null;
        loss().backward();
    }

    private static void DistillStep(DistillModel student, DistillModel teacher, NesterovSgd optimizer, Tensor images, Tensor labels,
        Func<Tensor, Tensor, Tensor> loss, List<long>? marks = null)
    {
        using var scope = NewDisposeScope();
        Tensor teacherLogits;
        using (no_grad()) teacherLogits = teacher.ForwardLogits(images);
        marks?.Add(Stopwatch.GetTimestamp());
        Step(student, optimizer, images, logits => loss(logits, teacherLogits), marks);
    }

    /// <summary>One student step; <paramref name="marks"/> gets a timestamp after the forward and loss, and after the backward.</summary>
    private static void Step(DistillModel student, NesterovSgd optimizer, Tensor images, Func<Tensor, Tensor> loss,
        List<long>? marks = null)
    {
        using var scope = NewDisposeScope();
        Tensor logits = student.ForwardLogits(images);
        Tensor value = loss(logits);
        marks?.Add(Stopwatch.GetTimestamp());
        optimizer.ZeroGrad();
        value.backward();
        marks?.Add(Stopwatch.GetTimestamp());
        optimizer.Step();
    }

    /// <summary>KD + CE as a user would write it in TorchSharp (0.9 T^2 KL batchmean + 0.1 CE).</summary>
    private static Tensor CompositeKD(Tensor student, Tensor teacher, Tensor labels)
    {
        using Scalar inverseT = (1 / Temperature).ToScalar();
        using Scalar soft = (0.9 * Temperature * Temperature / student.shape[0]).ToScalar();
        using Scalar hard = 0.1.ToScalar();
        Tensor kl = nn.functional.kl_div(
            nn.functional.log_softmax(student.mul(inverseT), 1),
            nn.functional.log_softmax(teacher.mul(inverseT), 1),
            reduction: nn.Reduction.Sum, log_target: true);
        return kl.mul(soft).add(nn.functional.cross_entropy(student, labels).mul(hard), Scalars.One);
    }
}
