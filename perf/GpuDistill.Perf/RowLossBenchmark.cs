using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Perf;

/// <summary>
/// Every fused row loss (Hinton KD, reverse KL, JSD at beta 0.5, DKD) alone on arrays, per backend: the host SIMD
/// backend and each ILGPU accelerator with a thread per row (the layout Auto takes on the CPU accelerator). The four
/// losses of one backend and size are timed in interleaved rounds, so a shared machine's load falls on them alike;
/// the place to see what a change to the row functions costs.
/// </summary>
internal static class RowLossBenchmark
{
    public const string Kernel = "row-losses";
    public const float Temperature = 4f;

    /// <summary>The sizes of the full run; --quick leaves out the largest.</summary>
    public static readonly (int Rows, int Classes)[] Sizes = [(4096, 1000), (256, 32000), (64, 128256)];

    private static readonly string[] Losses = ["kd", "reverse-kl", "jsd", "dkd"];

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        foreach ((int rows, int classes) in settings.Quick ? Sizes[..2] : Sizes)
        {
            var random = new Random(1);
            float[] s = new float[(long)rows * classes], t = new float[s.Length], g = new float[s.Length];
            for (int i = 0; i < s.Length; i++)
            {
                s[i] = (float)(random.NextDouble() * 10 - 5);
                t[i] = (float)(random.NextDouble() * 10 - 5);
            }
            int[] labels = Enumerable.Range(0, rows).Select(_ => random.Next(classes)).ToArray();
            var rowLoss = new float[rows];
            var kd = new SoftmaxKLRow(rows, classes, Temperature, 1f, 0f, false, -100, rows);
            var reverse = new ReverseKLRow(rows, classes, Temperature, false, -100, rows);
            var jsd = new JensenShannonRow(rows, classes, Temperature, 0.5, false, -100, rows);
            var dkd = new DecoupledKDRow(rows, classes, Temperature, 1f, 8f, 1f, -100, rows);
            string size = $"{rows}x{classes}";
            long bytes = 3L * s.Length * sizeof(float);

            foreach ((string name, ComputeDevice device) in settings.Devices)
            {
                Action[] actions;
                IDisposable? buffers = null;
                string backend = name;
                if (device.UsesHostSimd)
                {
                    actions =
                    [
                        () => HostSimdRowLoss.Run<HostSoftmaxKL, SoftmaxKLRow>(s, t, [], g, rowLoss, kd),
                        () => HostSimdRowLoss.Run<HostReverseKL, ReverseKLRow>(s, t, [], g, rowLoss, reverse),
                        () => HostSimdRowLoss.Run<HostJensenShannon, JensenShannonRow>(s, t, [], g, rowLoss, jsd),
                        () => HostSimdRowLoss.Run<HostDecoupledKD, DecoupledKDRow>(s, t, labels, g, rowLoss, dkd),
                    ];
                }
                else
                {
                    var launches = new DeviceLaunches(device, s, t, labels, rows);
                    buffers = launches;
                    backend = name + " row/thread";
                    actions =
                    [
                        () => launches.Launch(kd, withLabels: false),
                        () => launches.Launch(reverse, withLabels: false),
                        () => launches.Launch(jsd, withLabels: false),
                        () => launches.Launch(dkd, withLabels: true),
                    ];
                }
                Timing[] timings = Timing.MeasureInterleaved(actions, warmup: 2, minRounds: 5, maxRounds: 100,
                    maxSeconds: settings.MinSeconds * actions.Length);
                buffers?.Dispose();
                for (int i = 0; i < Losses.Length; i++)
                    yield return new ResultRow(Kernel, backend, size, Losses[i] + ", kernel only", timings[i], bytes, double.NaN);
            }
        }
    }

    /// <summary>Device buffers filled once, and one synchronised launch of a row loss on them (thread per row).</summary>
    private sealed class DeviceLaunches : IDisposable
    {
        private readonly ComputeDevice device;
        private readonly MemoryBuffer1D<float, Stride1D.Dense> student, teacher, gradient, rowLoss;
        private readonly MemoryBuffer1D<int, Stride1D.Dense> labels;

        public DeviceLaunches(ComputeDevice device, float[] s, float[] t, int[] y, int rows)
        {
            this.device = device;
            Accelerator accelerator = device.Accelerator;
            student = accelerator.Allocate1D(s);
            teacher = accelerator.Allocate1D(t);
            labels = accelerator.Allocate1D(y);
            gradient = accelerator.Allocate1D<float>(s.Length);
            rowLoss = accelerator.Allocate1D<float>(rows);
        }

        public void Launch<TLoss>(TLoss p, bool withLabels) where TLoss : unmanaged, IRowLoss
        {
            device.Kernels<RowLossLauncher<TLoss>>().Launch(student.View, teacher.View, withLabels ? labels.View : default,
                gradient.View, rowLoss.View, p, RowLayout.RowPerThread);
            device.Accelerator.Synchronize();
        }

        public void Dispose()
        {
            student.Dispose();
            teacher.Dispose();
            labels.Dispose();
            gradient.Dispose();
            rowLoss.Dispose();
        }
    }
}
