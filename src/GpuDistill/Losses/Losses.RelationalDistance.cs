using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// RKD distance-wise loss (Park et al., CVPR 2019): the mean over B^2 of smooth_l1(d_s,ij / mu_s - d_t,ij / mu_t),
    /// where d_ij = sqrt(max(||e_i - e_j||^2, 1e-12)) off the diagonal (0 on it) and mu is the mean off-diagonal
    /// distance.
    /// </summary>
    /// <remarks>
    /// Computed by the fused relation kernels (on a host <c>simd</c> device by <see cref="RelationComposites"/>, libtorch GEMMs) (loss-spec 3.1); <c>loss.backward()</c> gives the student its gradient
    /// times the upstream gradient and the teacher nothing; pairs closer than 1e-6 (the clamp) pass no gradient.
    /// Student and teacher may have different widths. RepDistiller weights it 25 (plus 50 times the angle term).
    /// </remarks>
    /// <param name="student">Student embeddings [B, ...], B &gt;= 2, float32, CPU (flattened per example).</param>
    /// <param name="teacher">Teacher embeddings [B, ...], float32, CPU (never receives a gradient).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor RelationalDistance(Tensor student, Tensor teacher, ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(student, nameof(student), teacher, nameof(teacher), 2,
            "the mean distance needs a pair of examples");
        return BatchRelation(student, teacher, device, RelationComposites.RelationalDistance,
            (s, t, request) => RelationalDistanceFunction.apply(s, t, request));
    }
}
