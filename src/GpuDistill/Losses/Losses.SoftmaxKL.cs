using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>The distillation losses, each a fused ILGPU kernel whose gradient flows into TorchSharp autograd.</summary>
public static partial class Losses
{
    /// <summary>Label value that marks a padding row (PyTorch's default).</summary>
    public const int DefaultIgnoreIndex = -100;

    /// <summary>
    /// Hinton et al. (2015) knowledge distillation: softWeight * T^2 * KL(p_t || q_s) with p = softmax(z / T),
    /// plus hardWeight * cross-entropy(z_s, labels) at T = 1, both averaged over the rows that count.
    /// </summary>
    /// <remarks>
    /// Rows whose label equals <paramref name="ignoreIndex"/> are padding: they add nothing to either term and are not
    /// counted, so without ignored rows the KL term is the usual batchmean. Computed in one kernel launch (loss-spec
    /// 1.1); <c>loss.backward()</c> gives the student logits softWeight*(T/N)(q - p) + hardWeight/N (softmax(z_s) -
    /// onehot) times the upstream gradient, and the teacher nothing.
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="labels">Optional hard labels [B] (int64 or int32) in [0, C) or <paramref name="ignoreIndex"/>.</param>
    /// <param name="softWeight">Weight of the T^2-scaled KL term (&gt;= 0).</param>
    /// <param name="hardWeight">Weight of the cross-entropy term (&gt;= 0); needs labels when &gt; 0.</param>
    /// <param name="ignoreIndex">Label that marks a padding row.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor SoftmaxKL(Tensor student, Tensor teacher, double temperature, Tensor? labels = null,
        double softWeight = 1.0, double hardWeight = 0.0, int ignoreIndex = DefaultIgnoreIndex,
        ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<SoftmaxKLRow, HostSoftmaxKL>(student, teacher,
            b => new SoftmaxKLRow(b.Rows, b.Classes, (float)temperature, (float)softWeight, (float)hardWeight, b.HasLabels,
                b.IgnoreIndex, b.CountedRows),
            () =>
            {
                TensorChecks.RequireTemperature(temperature, nameof(temperature));
                TensorChecks.RequireWeight(softWeight, nameof(softWeight));
                TensorChecks.RequireWeight(hardWeight, nameof(hardWeight));
                if (hardWeight > 0 && labels is null)
                    throw new ArgumentException("labels are required when hardWeight > 0.", nameof(labels));
            },
            labels, ignoreIndex, device, layout);
    }
}
