using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.Rows;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// KL(p_t || q_s) between the softened softmax of teacher and student logits, with a gradient for BOTH: for a
    /// generator that learns through a frozen teacher as well as the student (DFAD/ZSKT's divergence, loss-spec-2 7.3).
    /// The rows' KL is summed and divided by B (<see cref="RowReduction.BatchMean"/>) or B*C
    /// (<see cref="RowReduction.ElementwiseMean"/>, ZSKT's <c>F.kl_div</c> default); there is no T^2 factor.
    /// </summary>
    /// <remarks>
    /// One kernel launch computes the loss and both gradients: <c>loss.backward()</c> gives the student logits
    /// (q - p) / (T D) and, when the teacher logits require a gradient (the teacher's input does, its weights frozen),
    /// the teacher logits p (log p - log q - KL_i) / (T D), each times the upstream gradient; a teacher that does not
    /// require one gets none. The generator maximises this divergence: back-propagate its negative (or negate the
    /// upstream gradient). On a host <c>simd</c> device it runs on ILGPU's CPU accelerator (no host SIMD path).
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="reduction">What the summed rows are divided by.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <param name="layout">Kernel thread layout; auto picks per accelerator.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor SoftmaxKLBothSides(Tensor student, Tensor teacher, double temperature = 1.0,
        RowReduction reduction = RowReduction.BatchMean, ComputeDevice? device = null, RowLayout layout = RowLayout.Auto)
    {
        return RowLoss<BothSidesKLRow, NoHostPath<BothSidesKLRow>>(student, teacher,
            b => new BothSidesKLRow(b.Rows, b.Classes, (float)temperature, reduction, b.HasLabels, b.IgnoreIndex,
                b.CountedRows),
            () => RequireTwoSidedInputs(student, teacher, temperature, reduction),
            null, DefaultIgnoreIndex, device, layout);
    }

    /// <summary>The checks of a two-sided row loss's arguments, shared by the KL and the L1 distance.</summary>
    private static void RequireTwoSidedInputs(Tensor student, Tensor teacher, double temperature, RowReduction reduction)
    {
        TensorChecks.RequireTemperature(temperature, nameof(temperature));
        TensorChecks.RequireDefined(reduction, nameof(reduction));
        // Up front, not only when the loss comes out non-finite: a -inf teacher logit (p = 0) leaves the loss finite
        // but makes the teacher's gradient NaN.
        TensorChecks.RequireFinite(student, nameof(student));
        TensorChecks.RequireFinite(teacher, nameof(teacher));
    }
}
