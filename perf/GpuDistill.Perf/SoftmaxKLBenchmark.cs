using GpuDistill.Accelerators;
using GpuDistill.SoftmaxKL;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Fused softened-softmax KL, forward + backward, against the TorchSharp composite (log_softmax + kl_div +
/// backward) and the streaming floor, at each size, in one run.
/// </summary>
internal static class SoftmaxKLBenchmark
{
    public const double Temperature = 4.0;

    public static IEnumerable<ResultRow> Run(IReadOnlyList<(int Rows, int Classes)> sizes, IReadOnlyList<(string Name, ComputeDevice Device)> devices, bool quick)
    {
        foreach ((int rows, int classes) in sizes)
        {
            var random = new Random(1);
            float[] s = new float[(long)rows * classes], t = new float[s.Length], g = new float[s.Length];
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = (float)(random.NextDouble() * 10 - 5);
                t[i] = (float)(random.NextDouble() * 10 - 5);
            }
            string size = $"{rows}x{classes}";
            long bytes = 3L * s.Length * sizeof(float);
            double minSeconds = quick ? 0.2 : 1.0;

            using var scope = NewDisposeScope();
            Tensor student = tensor(s, [rows, classes]).requires_grad_(true);
            Tensor teacher = tensor(t, [rows, classes]);

            Timing composite = Timing.Measure(() =>
            {
                using var step = NewDisposeScope();
                student.grad = null;
                Tensor kl = nn.functional.kl_div(
                    nn.functional.log_softmax(student / Temperature, 1),
                    nn.functional.log_softmax(teacher / Temperature, 1),
                    reduction: nn.Reduction.Sum, log_target: true) / rows * (Temperature * Temperature);
                kl.backward();
            }, minSeconds: minSeconds);
            yield return new ResultRow("softmax-kl", "torchsharp-composite", size, "fwd+bwd", composite, bytes, composite.MedianMs);

            Timing floor = Timing.Measure(() => StreamingFloor.Run(s, t, g), minSeconds: minSeconds);
            yield return new ResultRow("softmax-kl", "streaming-floor", size, "read 2 + write 1", floor, bytes, composite.MedianMs);

            foreach ((string name, ComputeDevice device) in devices)
            {
                foreach (SoftmaxKLLayout layout in new[] { SoftmaxKLLayout.RowPerThread, SoftmaxKLLayout.RowPerGroup })
                {
                    // The CPU simulator's group barriers make a group per row take seconds per call past small sizes
                    // (14 s at 4096 x 1000, measured): it is timed where it finishes, not where it cannot.
                    if (layout == SoftmaxKLLayout.RowPerGroup && device.Kind == AcceleratorKind.Cpu && s.Length > 100_000)
                        continue;
                    Timing fused = Timing.Measure(() =>
                    {
                        using var step = NewDisposeScope();
                        student.grad = null;
                        GpuDistill.Losses.SoftmaxKL(student, teacher, Temperature, device: device, layout: layout).backward();
                    }, minSeconds: minSeconds);
                    yield return new ResultRow("softmax-kl", $"{name} {Describe(layout)}", size, "fwd+bwd, copies incl.", fused, bytes, composite.MedianMs);
                }
            }
        }
    }

    private static string Describe(SoftmaxKLLayout layout) => layout == SoftmaxKLLayout.RowPerThread ? "row/thread" : "row/group";
}
