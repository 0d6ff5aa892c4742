using GpuDistill.Kernels.Diagnostics;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// Linear CKA's HSIC terms written as TorchSharp ops: what <see cref="RepresentationSimilarity"/> runs on a host
/// device (<c>simd</c>), where libtorch's blocked GEMM beats ILGPU's CPU accelerator (one simulated thread per Gram
/// entry run) by far (perf/GpuDistill.Perf, benchmark <c>cka</c>). The fused kernels
/// (<see cref="LinearCkaLauncher"/>) are the definition on the CPU, CUDA and OpenCL accelerators; the tests hold both
/// to the same float64 reference.
/// </summary>
/// <remarks>
/// The columns are centred in float64, the Gram products run in float32 (a float64 GEMM costs twice as much and the
/// kernel's products are float32 too), and the per-row sums are taken in float64 and added up by
/// <see cref="HsicTerms.FromStatistics"/>, exactly as the kernel's are. Inputs arrive validated, flattened and scaled.
/// </remarks>
public static class CkaComposite
{
    /// <summary>The centred Gram matrix K = X_c X_c^T of flattened features, float64 [n, n].</summary>
    /// <param name="features">Features [n, p], float32.</param>
    /// <returns>K, owned by the caller.</returns>
    public static Tensor CentredGram(Tensor features)
    {
        ArgumentNullException.ThrowIfNull(features);
        using var scope = NewDisposeScope();
        Tensor wide = features.to_type(ScalarType.Float64);
        Tensor centred = wide.sub(wide.mean([0], keepdim: true)).to_type(ScalarType.Float32);
        return centred.mm(centred.t()).to_type(ScalarType.Float64).MoveToOuterDisposeScope();
    }

    /// <summary>The HSIC terms of two centred Gram matrices of the same n examples (<see cref="CentredGram"/>).</summary>
    /// <param name="gramX">K, float64 [n, n].</param>
    /// <param name="gramY">L, float64 [n, n].</param>
    /// <returns>The terms.</returns>
    public static HsicTerms FromGrams(Tensor gramX, Tensor gramY)
    {
        ArgumentNullException.ThrowIfNull(gramX);
        ArgumentNullException.ThrowIfNull(gramY);
        using var scope = NewDisposeScope();
        int rows = (int)gramX.shape[0];
        Tensor diagonalX = gramX.diagonal(), diagonalY = gramY.diagonal();
        // The kernel's seven per-row sums, in its order (LinearCkaKernels.GramStatistics), one run per row.
        Tensor statistics = stack(
        [
            gramX.mul(gramY).sum(1), gramX.square().sum(1), gramY.square().sum(1),
            gramX.sum(1).sub(diagonalX), gramY.sum(1).sub(diagonalY), diagonalX, diagonalY,
        ], 1).contiguous();
        return HsicTerms.FromStatistics(statistics.data<double>().ToArray(), rows, runs: 1);
    }

    /// <summary>The HSIC terms of features X [n, p1] and Y [n, p2].</summary>
    /// <param name="x">X, float32.</param>
    /// <param name="y">Y, float32.</param>
    /// <returns>The terms.</returns>
    public static HsicTerms Hsic(Tensor x, Tensor y)
    {
        using Tensor gramX = CentredGram(x), gramY = CentredGram(y);
        return FromGrams(gramX, gramY);
    }
}
