using GpuDistill.Compute;
using GpuDistill.Kernels.Diagnostics;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// Minibatch CKA (Nguyen et al., ICLR 2021; loss-spec-2 12.1): the unbiased HSIC_1 of each batch summed over batches,
/// then CKA_mb = sum HSIC_1(K, L) / sqrt(sum HSIC_1(K, K) sum HSIC_1(L, L)). The sums are taken before dividing, never
/// per-batch CKA values averaged. For data too large for one n x n Gram matrix.
/// </summary>
public sealed class MinibatchCka
{
    private double cross;
    private double selfX;
    private double selfY;
    private int? exponentX;
    private int? exponentY;

    /// <summary>Batches added so far.</summary>
    public int Batches { get; private set; }

    /// <summary>Examples added so far.</summary>
    public long Examples { get; private set; }

    /// <summary>
    /// CKA_mb over the batches added; NaN before the first, or when a summed denominator is not positive (a layer
    /// that does not vary, or too few examples for the estimator to settle).
    /// </summary>
    public double Value => selfX > 0 && selfY > 0 ? cross / Math.Sqrt(selfX * selfY) : double.NaN;

    /// <summary>Adds one batch of features of the same examples.</summary>
    /// <param name="x">Features [b, ...], float32, CPU, finite, b &gt;= 4 (HSIC_1 divides by b (b - 3)).</param>
    /// <param name="y">Features [b, ...] of the same examples.</param>
    /// <param name="device">Accelerator to run on; <see cref="ComputeDevice.Default"/> when null.</param>
    public void Add(Tensor x, Tensor y, ComputeDevice? device = null)
    {
        (int batch, _) = TensorChecks.RequireRelationFeatures(x, nameof(x));
        TensorChecks.RequireRelationBatch(batch, nameof(x), 4, "the unbiased HSIC divides by n (n - 3)");
        // Every batch is scaled by the powers of two the first chose: the sums are only meaningful at one scale.
        (HsicTerms terms, int? ex, int? ey) = RepresentationSimilarity.Hsic(x, y, device, exponentX, exponentY);
        if (!double.IsFinite(terms.UnbiasedSelfX) || !double.IsFinite(terms.UnbiasedSelfY) || !double.IsFinite(terms.UnbiasedCross))
            throw new ArgumentException(
                "This batch's HSIC overflowed float32: its features are far larger than the first batch's, whose size sets the scale of every batch.", nameof(x));
        (exponentX, exponentY) = (ex, ey);
        cross += terms.UnbiasedCross;
        selfX += terms.UnbiasedSelfX;
        selfY += terms.UnbiasedSelfY;
        Batches++;
        Examples += terms.Rows;
    }
}
