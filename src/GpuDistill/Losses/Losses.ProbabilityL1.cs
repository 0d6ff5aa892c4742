using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// The L1 distance between the softened softmax vectors of student and teacher, sum |q_s - p_t|, with a gradient
    /// for BOTH (adversarial distillation: the generator maximises it through the teacher and the student). Divided by
    /// B*C (<see cref="RowReduction.ElementwiseMean"/>, as <c>F.l1_loss</c>) or B.
    /// </summary>
    /// <remarks>
    /// One kernel launch computes the loss and both gradients, with s = sign(q - p) and sign(0) = 0:
    /// <c>loss.backward()</c> gives the student logits q (s - E_q[s]) / (T D) and, when the teacher logits require a
    /// gradient, the teacher logits -p (s - E_p[s]) / (T D), each times the upstream gradient. DFAD's reference code
    /// (loss-spec-2 7.3) takes the L1 distance of the logits themselves, not of probabilities; that one is
    /// <c>(student - teacher).abs().mean()</c> in TorchSharp, which already differentiates both sides. On a host
    /// <c>simd</c> device it runs on ILGPU's CPU accelerator (no host SIMD path).
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU.</param>
    /// <param name="temperature">T &gt; 0 (1 compares the plain softmax outputs).</param>
    /// <param name="reduction">What the summed rows are divided by.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor ProbabilityL1(Tensor student, Tensor teacher, double temperature = 1.0,
        RowReduction reduction = RowReduction.ElementwiseMean, ComputeDevice? device = null,
        RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<ProbabilityL1Row, NoHostPath<ProbabilityL1Row>>(student, teacher,
            b => new ProbabilityL1Row(b.Rows, b.Classes, (float)temperature, reduction, b.HasLabels, b.IgnoreIndex,
                b.CountedRows),
            () => RequireTwoSidedInputs(student, teacher, temperature, reduction),
            null, DefaultIgnoreIndex, device, layout);
    }
}
