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
/// adds; the fused loss's own call is timed too, to show where that difference is spent.
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

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        using var outer = NewDisposeScope();
        using DistillModel student = ModelFactory.Create("small-cnn", 1);
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 2);
        teacher.eval();
        student.train();
        var optimizer = new NesterovSgd(student.parameters(), 0.01, 0.9, 5e-4);
        var random = new Random(3);
        Tensor images = randn(Batch, 1, DistillModel.ImageSize, DistillModel.ImageSize);
        Tensor labels = tensor(Enumerable.Range(0, Batch).Select(_ => (long)random.Next(DistillModel.ClassCount)).ToArray());

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

    private static void LossCall(Tensor studentLogits, Func<Tensor> loss)
    {
        using var scope = NewDisposeScope();
        studentLogits.grad = null;
        loss().backward();
    }

    private static void DistillStep(DistillModel student, DistillModel teacher, NesterovSgd optimizer, Tensor images, Tensor labels,
        Func<Tensor, Tensor, Tensor> loss)
    {
        using var scope = NewDisposeScope();
        Tensor teacherLogits;
        using (no_grad()) teacherLogits = teacher.ForwardLogits(images);
        Step(student, optimizer, images, logits => loss(logits, teacherLogits));
    }

    private static void Step(DistillModel student, NesterovSgd optimizer, Tensor images, Func<Tensor, Tensor> loss)
    {
        using var scope = NewDisposeScope();
        Tensor logits = student.ForwardLogits(images);
        Tensor value = loss(logits);
        optimizer.ZeroGrad();
        value.backward();
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
