using GpuDistill.Kernels.AttentionTransfer;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>
/// Attention transfer's map and loss written as TorchSharp ops, differentiated by libtorch: what
/// <see cref="Losses.AttentionTransfer"/> and <see cref="Losses.AttentionMap"/> run on a host device (<c>simd</c>).
/// </summary>
/// <remarks>
/// On a CPU the map is a channel reduction and a row normalisation, which libtorch's vectorised loops do 2-4x faster
/// than the fused kernels on ILGPU's CPU accelerator (docs/perf/summary.md, attention-transfer and attention-map), as
/// with the relation losses (<see cref="RelationComposites"/>); the fused kernels serve the CPU, CUDA and OpenCL
/// accelerators. The math is the kernels' (loss-spec 2.2) and the tests hold both to the same float64 references.
/// </remarks>
public static class AttentionTransferComposite
{
    /// <summary>a = F.normalize(mean (code) or sum (paper) over channels of |f|^p) over the H*W positions, eps 1e-12.</summary>
    /// <param name="feature">Feature [B, C, H, W], validated by the caller.</param>
    /// <param name="p">The exponent, finite and &gt; 0.</param>
    /// <param name="form">Channel mean or channel sum.</param>
    /// <returns>The maps [B, H*W].</returns>
    public static Tensor Map(Tensor feature, double p, AttentionTransferForm form)
    {
        ArgumentNullException.ThrowIfNull(feature);
        // |f|^2 = f^2 without the abs pass; the references' default p.
        Tensor powered = p == 2 ? feature.square() : feature.abs().pow(p);
        Tensor reduced = form == AttentionTransferForm.Paper ? powered.sum([1]) : powered.mean([1]);
        return nn.functional.normalize(reduced.flatten(1), 2.0, 1, 1e-12);
    }

    /// <summary>
    /// The code form's mean over B*H*W of (a_s - a_t)^2, or the paper form's mean over the batch of ||a_s - a_t||_2
    /// (libtorch's norm gives gradient 0 where the maps are equal, as the kernels do).
    /// </summary>
    /// <param name="student">Student feature [B, Cs, H, W].</param>
    /// <param name="teacher">Teacher feature [B, Ct, H, W] (detached here).</param>
    /// <param name="p">The exponent, finite and &gt; 0.</param>
    /// <param name="form">Which loss.</param>
    /// <returns>A scalar.</returns>
    public static Tensor Loss(Tensor student, Tensor teacher, double p, AttentionTransferForm form)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        using Tensor frozen = teacher.detach();
        Tensor difference = Map(student, p, form).sub(Map(frozen, p, form));
        return form == AttentionTransferForm.Paper
            ? linalg.vector_norm(difference, dims: [1]).mean()
            : difference.square().mean();
    }
}
