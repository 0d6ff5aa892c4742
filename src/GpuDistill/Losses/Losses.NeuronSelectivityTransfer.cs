using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>The floor under a row's norm in F.normalize (loss-spec 0).</summary>
    private const double NormalizeEpsilon = 1e-12;

    /// <summary>
    /// Neuron selectivity transfer (Huang and Wang 2017, loss-spec 2.3): the squared maximum mean discrepancy, with
    /// the polynomial kernel k(x, y) = dot(x, y)^2, between the L2-normalised channel rows of the student's and the
    /// teacher's feature maps, averaged over the batch.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Per image, each channel's map (length HW) is divided by max(||row||, 1e-12) (F.normalize); with S [C_s, HW]
    /// and T [C_t, HW] those rows, L = mean k(T, T) + mean k(S, S) - 2 mean k(S, T), each mean over the B C C'
    /// entries of its Gram matrices; the teacher term is a constant (the teacher is detached). The channel counts may
    /// differ. When the spatial sizes differ, the larger height and the larger width are average-pooled
    /// (adaptive_avg_pool2d) to the smaller, as RepDistiller does for square maps. <c>loss.backward()</c> gives the
    /// student 4/(B C_s^2) (S S^T) S - 4/(B C_s C_t) (S T^T) T, chained through the normalisation and the pooling,
    /// times the upstream gradient, and the teacher nothing. An all-zero channel is normalised to zero and gets a
    /// zero gradient.
    /// </para>
    /// <para>
    /// A TorchSharp composition, not an ILGPU kernel: the work is three batched Gram matrices, GEMM-shaped
    /// O(B C^2 HW), which bmm hands to libtorch's BLAS (cuBLAS on CUDA) and a hand-written ILGPU kernel would not
    /// beat; the rest is a few elementwise passes.
    /// </para>
    /// </remarks>
    /// <param name="student">Student feature map [B, C_s, H_s, W_s], float32, on any device.</param>
    /// <param name="teacher">Teacher feature map [B, C_t, H_t, W_t], float32, on the student's device (never receives a gradient).</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor NeuronSelectivityTransfer(Tensor student, Tensor teacher)
    {
        TensorChecks.RequireFeaturePair(student, nameof(student), teacher, nameof(teacher), rank: 4);

        using var scope = NewDisposeScope();
        using Scalar minusTwo = (-2.0).ToScalar();
        (Tensor s, Tensor t) = PoolToCommonSize(student, teacher.detach());
        Tensor studentRows = NormalizeChannelRows(s);
        Tensor teacherRows = NormalizeChannelRows(t);

        Tensor loss = PolynomialKernelMean(studentRows, studentRows)
            .add(PolynomialKernelMean(teacherRows, teacherRows), Scalars.One)
            .add(PolynomialKernelMean(studentRows, teacherRows), minusTwo);

        // Normalised rows bound every term by 1, so only NaN or infinity in the features can make the loss
        // non-finite: check them only then, which spares a pass over both inputs on every call.
        if (!float.IsFinite(loss.item<float>()))
        {
            TensorChecks.RequireFiniteFeatures(student, nameof(student));
            TensorChecks.RequireFiniteFeatures(teacher, nameof(teacher));
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>[B, C, H, W] to [B, C, HW], each row divided by max(||row||, 1e-12) (F.normalize over HW).</summary>
    private static Tensor NormalizeChannelRows(Tensor map)
    {
        Tensor rows = map.flatten(2);
        using Scalar floor = NormalizeEpsilon.ToScalar();
        return rows.div(OverflowSafeNorm(rows, 2).clamp_min(floor));
    }

    /// <summary>mean over b, i, j of dot(a[b, i], c[b, j])^2 for rows a [B, C_a, HW] and c [B, C_c, HW].</summary>
    private static Tensor PolynomialKernelMean(Tensor a, Tensor c) => bmm(a, c.transpose(1, 2)).square().mean();

    /// <summary>
    /// The L2 norm along <paramref name="dim"/> (kept as a size-1 dimension), computed as m ||x / m|| with
    /// m = max(1, max |x|) along that dimension.
    /// </summary>
    /// <remarks>
    /// Plain float32 norms overflow to infinity once the squares pass 3.4e38 (entries near 1e19), and x / inf is 0,
    /// so huge features would silently normalise to zero. Rows whose entries are all within [-1, 1] are divided by
    /// exactly 1, so the common case is unchanged to the bit. m carries no gradient: m ||x / m|| does not depend on
    /// m, so the chain rule through x alone is exact. vector_norm's backward is 0 at a zero row, where a
    /// sqrt(sum x^2) composite would give NaN.
    /// </remarks>
    private static Tensor OverflowSafeNorm(Tensor x, long dim)
    {
        Tensor scale = x.detach().abs().amax([dim], keepdim: true).clamp_min(Scalars.One);
        return linalg.vector_norm(x.div(scale), dims: [dim], keepdim: true).mul(scale);
    }
}
