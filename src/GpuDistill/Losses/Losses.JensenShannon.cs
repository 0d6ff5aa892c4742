using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Generalised Jensen-Shannon divergence (Liger's definition, loss-spec 1.3) between the softened teacher P and
    /// student Q: T^2 * [beta KL(P || M) + (1 - beta) KL(Q || M)] with M = beta P + (1 - beta) Q, averaged over the
    /// rows that count.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Scaling: unlike Liger (which has no temperature factor), the divergence is multiplied by T^2 like Hinton KD
    /// (<see cref="SoftmaxKL"/>) and <see cref="ReverseKL"/>, so the three losses are comparable at any T and their
    /// gradients keep the same size as T changes. Divide by T^2 to get Liger's value.
    /// </para>
    /// <para>
    /// Endpoints, as in Liger: beta = 0 is the forward KL(P || Q) (exactly <see cref="SoftmaxKL"/> with its default
    /// weights) and beta = 1 the reverse KL(Q || P) (exactly <see cref="ReverseKL"/>); the mixture formula would be
    /// identically 0 there, so JSD jumps at the endpoints. log M is taken as a log-sum-exp of
    /// (log P + log beta, log Q + log(1 - beta)), never as the log of a sum of exps.
    /// </para>
    /// <para>
    /// Labels, when given, only mark padding rows (not counted in N). Computed in one kernel launch;
    /// <c>loss.backward()</c> gives the student logits (1 - beta) (T/N) Q (log Q - log M - KL(Q || M)_i) times the
    /// upstream gradient (for 0 &lt; beta &lt; 1), and the teacher nothing.
    /// </para>
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="beta">Weight of the teacher in the mixture M, in [0, 1]; 0.5 is the symmetric JSD.</param>
    /// <param name="labels">Optional labels [B] (int64 or int32) in [0, C) or <paramref name="ignoreIndex"/>.</param>
    /// <param name="ignoreIndex">Label that marks a padding row.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor JensenShannon(Tensor student, Tensor teacher, double temperature, double beta = 0.5,
        Tensor? labels = null, int ignoreIndex = DefaultIgnoreIndex, ComputeDevice? device = null,
        RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<JensenShannonRow, HostJensenShannon>(student, teacher,
            b => new JensenShannonRow(b.Rows, b.Classes, (float)temperature, beta, b.HasLabels, b.IgnoreIndex, b.CountedRows),
            () =>
            {
                TensorChecks.RequireTemperature(temperature, nameof(temperature));
                TensorChecks.RequireUnitInterval(beta, nameof(beta));
            },
            labels, ignoreIndex, device, layout);
    }
}
