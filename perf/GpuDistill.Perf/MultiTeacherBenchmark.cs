using GpuDistill.Compute;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Multi-teacher KD at T = 4, forward + backward through autograd, three ways on every backend: the fused loss (all K
/// teachers in one call: one ILGPU launch, or on the simd device the host SIMD backend's
/// <see cref="HostSimd.HostSimdMultiTeacher"/>), K separate fused KL losses (<see cref="Losses.SoftmaxKL"/> once per
/// teacher, weighted and summed), and the TorchSharp composite (softmax of every teacher, weighted sum, log_softmax of
/// the student, kl_div).
/// </summary>
/// <remarks>
/// The K separate losses compute sum_k w_k KL(p_k || q), not KL of the mixture: a different loss with the same inputs
/// and outputs, and the way multi-teacher KD is written without a mixture kernel. Bytes per fwd+bwd are the fused
/// kernel's own traffic: every teacher and the student read twice, the gradient written once. The three are timed
/// in interleaved rounds, so a shared machine's changing load falls on all alike.
/// </remarks>
internal static class MultiTeacherBenchmark
{
    public const string Kernel = "multi-teacher";
    public const double Temperature = 4.0;

    /// <summary>B x C of the full run; --quick leaves out the largest.</summary>
    public static readonly (int Rows, int Classes)[] Sizes = [(256, 10), (4096, 1000), (256, 32000)];

    /// <summary>Teacher counts of every size.</summary>
    public static readonly int[] TeacherCounts = [1, 2, 5];

    // Held for the process: TorchSharp's bare-number overloads wrap a temporary Scalar the GC may free mid-call.
    private static readonly Scalar InverseTemperature = (1.0 / Temperature).ToScalar();
    private static readonly Scalar LossScale = (Temperature * Temperature).ToScalar();

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        foreach ((int rows, int classes) in settings.Quick ? Sizes[..2] : Sizes)
        {
            foreach (int teacherCount in TeacherCounts)
            {
                foreach (ResultRow row in RunSize(settings, rows, classes, teacherCount)) yield return row;
            }
        }
    }

    private static IEnumerable<ResultRow> RunSize(BenchmarkSettings settings, int rows, int classes, int teacherCount)
    {
        string size = $"{rows}x{classes} K={teacherCount}";
        long rowBytes = (long)rows * classes * sizeof(float);
        long bytes = (2 * (teacherCount + 1) + 1) * rowBytes;

        using var outer = NewDisposeScope();
        var generator = new Generator(1);
        Tensor student = (randn([rows, classes], generator: generator) * 2.5).requires_grad_(true);
        Tensor teachers = randn([teacherCount, rows, classes], generator: generator) * 2.5;
        Tensor[] teacherRows = Enumerable.Range(0, teacherCount).Select(k => teachers[k]).ToArray();
        double[] weights = Enumerable.Range(1, teacherCount).Select(k => (double)k).ToArray();
        MultiTeacherWeights fixedWeights = MultiTeacherWeights.Fixed(weights);
        double[] normalized = [.. fixedWeights.Values];
        Tensor mixtureWeights = tensor(normalized.Select(w => (float)w).ToArray()).reshape(teacherCount, 1, 1);

        var names = new List<string> { "torchsharp-composite" };
        var actions = new List<Action> { FwdBwd(student, () => Composite(student, teachers, mixtureWeights, rows)) };
        foreach ((string name, ComputeDevice device) in settings.Devices)
        {
            // The simd device runs both the fused loss and the K single losses on the host SIMD backend; ilgpu-cpu runs
            // both on the CPU accelerator.
            names.Add(device.UsesHostSimd ? $"{name} fused, host" : $"{name} fused, one launch");
            actions.Add(FwdBwd(student, () => Losses.MultiTeacherKD(student, teachers, Temperature, fixedWeights, device: device)));
            names.Add($"{name} {teacherCount} x softmax-kl");
            actions.Add(FwdBwd(student, () => Separate(student, teacherRows, normalized, device)));
        }

        int rounds = settings.Quick ? 5 : 10;
        Timing[] timings = Timing.MeasureInterleaved(actions, warmup: 2, minRounds: rounds, maxRounds: 200,
            maxSeconds: settings.MinSeconds * actions.Count);
        double compositeMs = timings[0].MedianMs;
        for (int i = 0; i < names.Count; i++)
            yield return new ResultRow(Kernel, names[i], size, "fwd+bwd", timings[i], bytes, compositeMs);
    }

    /// <summary>One loss call and its backward, from a clean gradient.</summary>
    private static Action FwdBwd(Tensor student, Func<Tensor> forward) => () =>
    {
        using var step = NewDisposeScope();
        student.grad = null;
        forward().backward();
    };

    /// <summary>sum_k w_k SoftmaxKL(student, teacher_k): K launches, the weights folded into each loss's softWeight.</summary>
    private static Tensor Separate(Tensor student, Tensor[] teacherRows, double[] weights, ComputeDevice device)
    {
        var terms = new Tensor[teacherRows.Length];
        for (int k = 0; k < terms.Length; k++)
            terms[k] = Losses.SoftmaxKL(student, teacherRows[k], Temperature, softWeight: weights[k], device: device);
        return terms.Length == 1 ? terms[0] : stack(terms).sum();
    }

    /// <summary>T^2/B KL(sum_k w_k softmax(t_k / T) || softmax(s / T)) in TorchSharp ops.</summary>
    private static Tensor Composite(Tensor student, Tensor teachers, Tensor mixtureWeights, int rows)
    {
        Tensor mixture = (nn.functional.softmax(teachers.mul(InverseTemperature), 2) * mixtureWeights).sum(dim: 0); // named: a bare 0 binds to sum(ScalarType), i.e. Byte
        Tensor logStudent = nn.functional.log_softmax(student.mul(InverseTemperature), 1);
        return nn.functional.kl_div(logStudent, mixture, reduction: nn.Reduction.Sum, log_target: false)
            .mul(LossScale).div(rows);
    }
}
