using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Decoupled knowledge distillation (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022; loss-spec 1.4):
    /// w * T^2 * (alpha TCKD + beta NCKD), averaged over the rows that count.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Per row with target g and softened probabilities p (teacher) and q (student): TCKD = KL(b_t || b_s) with the
    /// binary split b = [p_g, 1 - p_g]; NCKD = KL(p^_t || p^_s) with p^ the softmax over the classes c != g.
    /// log(1 - p_g) is taken as lse_{c != g}(z / T) - lse(z / T), and the target class is left out of the
    /// non-target sums outright (mdistiller's -1000 mask and log of a masked sum underflow in float32).
    /// </para>
    /// <para>
    /// Rows whose label equals <paramref name="ignoreIndex"/> add nothing and are not counted in N. The total
    /// mdistiller loss adds the cross-entropy (CE weight 1.0 by default); compute it separately. Computed in one
    /// kernel launch; <c>loss.backward()</c> gives the student logits w (T/N) alpha (q_g - p_g) at j = g and
    /// w (T/N) [alpha (p_g - q_g) q^_j + beta (q^_j - p^_j)] elsewhere, times the upstream gradient; the teacher
    /// gets nothing.
    /// </para>
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="labels">Target classes [B] (int64 or int32) in [0, C) or <paramref name="ignoreIndex"/>; required.</param>
    /// <param name="temperature">T &gt; 0 (mdistiller default 4).</param>
    /// <param name="alpha">Weight of TCKD, &gt;= 0 (default 1).</param>
    /// <param name="beta">Weight of NCKD, &gt;= 0 (default 8; mdistiller's configs use 0.5 to 8).</param>
    /// <param name="warmupWeight">w &gt;= 0, the caller's warm-up factor, typically min(epoch / warmup, 1).</param>
    /// <param name="ignoreIndex">Label that marks a padding row.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor DecoupledKD(Tensor student, Tensor teacher, Tensor labels, double temperature = 4.0,
        double alpha = 1.0, double beta = 8.0, double warmupWeight = 1.0, int ignoreIndex = DefaultIgnoreIndex,
        ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<DecoupledKDRow, HostDecoupledKD>(student, teacher,
            b => new DecoupledKDRow(b.Rows, b.Classes, (float)temperature, (float)alpha, (float)beta, (float)warmupWeight,
                b.IgnoreIndex, b.CountedRows),
            () =>
            {
                ArgumentNullException.ThrowIfNull(labels);
                TensorChecks.RequireTemperature(temperature, nameof(temperature));
                TensorChecks.RequireWeight(alpha, nameof(alpha));
                TensorChecks.RequireWeight(beta, nameof(beta));
                TensorChecks.RequireWeight(warmupWeight, nameof(warmupWeight));
            },
            labels, ignoreIndex, device, layout);
    }
}
