using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Reverse KL distillation: T^2 * KL(q_s || p_t) with q = softmax(z_s / T), p = softmax(z_t / T), averaged over
    /// the rows that count (loss-spec 1.2).
    /// </summary>
    /// <remarks>
    /// L = (T^2 / N) sum_i sum_c q (log q - log p). Mode-seeking where forward KL (<see cref="SoftmaxKL"/>) is
    /// mass-covering; Liger's reverse KL is the same without the T^2 factor. Labels, when given, only mark padding
    /// rows: a row whose label equals <paramref name="ignoreIndex"/> adds nothing and is not counted in N.
    /// Computed in one kernel launch; <c>loss.backward()</c> gives the student logits
    /// (T/N) q (r - KL(q || p)_i), r = log q - log p, times the upstream gradient, and the teacher nothing.
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="labels">Optional labels [B] (int64 or int32) in [0, C) or <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">Label that marks a padding row.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor ReverseKL(Tensor student, Tensor teacher, double temperature, Tensor? labels = null,
        int ignoreIndex = DefaultIgnoreIndex, ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<ReverseKLRow, HostReverseKL>(student, teacher,
            b => new ReverseKLRow(b.Rows, b.Classes, (float)temperature, b.HasLabels, b.IgnoreIndex, b.CountedRows),
            () => TensorChecks.RequireTemperature(temperature, nameof(temperature)),
            labels, ignoreIndex, device, layout);
    }
}
