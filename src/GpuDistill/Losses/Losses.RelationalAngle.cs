using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// RKD angle-wise loss (Park et al., CVPR 2019): the mean over B^3 of smooth_l1(a_s,ijk - a_t,ijk), where
    /// a_ijk = u_ij . u_ik and u_ij = normalize(e_j - e_i) (eps 1e-12; u_ii = 0).
    /// </summary>
    /// <remarks>
    /// Computed by the fused relation kernels (loss-spec 3.1) in O(B^3 + B^2 D) time and O(B^2 + B D) memory: the
    /// angles come from the B x B Gram matrix of the batch-centred embeddings, never as a B x B x B or B x B x D
    /// tensor. On a host <c>simd</c> device the Grams and the gradient's product are libtorch GEMMs and the angles
    /// vectorised host code (Compute.HostSimd.HostRelationalAngle), O(B^3) whatever D is, where the libtorch composite
    /// (<see cref="RelationComposites.RelationalAngle"/>, the benchmarks' baseline) costs O(B^3 D). <c>loss.backward()</c> gives the student its gradient times the upstream gradient and the teacher
    /// nothing. Student and teacher may have different widths. With B &lt; 3 every angle is 0 or 1 in both, so the
    /// loss is 0. Two identical student examples make e_j - e_i = 0, where normalize divides by its eps: their
    /// gradient is of order 1e12 / B^2 (finite; PyTorch's is the same). RepDistiller weights it 50.
    /// </remarks>
    /// <param name="student">Student embeddings [B, ...], B &gt;= 1, float32, CPU (flattened per example).</param>
    /// <param name="teacher">Teacher embeddings [B, ...], float32, CPU (never receives a gradient).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor RelationalAngle(Tensor student, Tensor teacher, ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(student, nameof(student), teacher, nameof(teacher), 1, "one example at least");
        return BatchRelation(student, teacher, device, composite: null,
            (s, t, request) => RelationalAngleFunction.apply(s, t, request));
    }
}
