using GpuDistill.Compute;
using GpuDistill.Autograd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>
    /// Similarity-preserving distillation (Tung and Mori, ICCV 2019): ||G^_t - G^_s||_F^2 / B^2, where G^ is the
    /// batch's Gram matrix F F^T of flattened features with each row L2-normalised (eps 1e-12).
    /// </summary>
    /// <remarks>
    /// Computed by the fused relation kernels (on a host <c>simd</c> device by <see cref="RelationComposites"/>, libtorch GEMMs) (loss-spec 3.2); <c>loss.backward()</c> gives the student
    /// ((dG + dG^T) F) times the upstream gradient and the teacher nothing. Student and teacher may have different
    /// feature widths: only their B x B Gram matrices meet. An all-zero student example has a zero Gram row, which
    /// the eps turns into G / 1e-12: its gradient is then of order 1e12 (finite; PyTorch's is the same).
    /// RepDistiller weights it 3000.
    /// </remarks>
    /// <param name="student">Student features [B, ...], float32, CPU (flattened per example).</param>
    /// <param name="teacher">Teacher features [B, ...], float32, CPU (never receives a gradient).</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor SimilarityPreserving(Tensor student, Tensor teacher, ComputeDevice? device = null)
    {
        TensorChecks.RequireRelationPair(student, nameof(student), teacher, nameof(teacher), 1, "one example at least");
        return BatchRelation(student, teacher, device, RelationComposites.SimilarityPreserving,
            (s, t, request) => SimilarityPreservingFunction.apply(s, t, request));
    }
}
