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
    /// beat; the rest is a few elementwise passes. Measured forward + backward, one libtorch thread on a shared
    /// 2-core AMD EPYC (3 runs at load ~10, so wall times are ~2x the CPU time): 64 x 32 x 7 x 7 against a
    /// 64 x 128 x 7 x 7 teacher 7-10 ms of CPU time; 64 x 64 x 32 x 32 against itself 95-135 ms, ~47 ms of it in the
    /// bmm calls. A plain ILGPU Gram kernel (a thread per entry) on the CPU accelerator took 4.4 s for one
    /// 64 x 64 x 1024 Gram matrix that bmm computes in 16 ms.
    /// </para>
    /// </remarks>
    /// <param name="student">Student feature map [B, C_s, H_s, W_s], float32, on any device.</param>
    /// <param name="teacher">Teacher feature map [B, C_t, H_t, W_t], float32, on the student's device (never receives a gradient).</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor NeuronSelectivityTransfer(Tensor student, Tensor teacher) => NeuronSelectivityTransfer(student, teacher, null);

    /// <summary>
    /// <see cref="NeuronSelectivityTransfer(Tensor, Tensor)"/> with the teacher's term given per image
    /// (<see cref="NeuronSelectivityTeacherSide"/>, kept from an earlier epoch when the teacher's outputs are cached):
    /// it is most of the loss's matrix work, a constant, and the same for an image every time.
    /// </summary>
    /// <param name="student">Student feature map [B, C_s, H_s, W_s].</param>
    /// <param name="teacher">Teacher feature map [B, C_t, H_t, W_t].</param>
    /// <param name="teacherTerms">The teacher's term of each image [B] (or [B, 1]); null to compute it.</param>
    /// <param name="teacherRowNorms">The norms of the teacher's channel rows [B, C_t] after pooling
    /// (<see cref="NeuronSelectivityTeacherSide"/>), kept like the terms; with them the teacher's rows are never
    /// normalised: the cross Gram matrix is taken on the rows as they are and its columns divided by the norms, which
    /// spares several passes over the teacher's map. Null to normalise the rows.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor NeuronSelectivityTransfer(Tensor student, Tensor teacher, Tensor? teacherTerms, Tensor? teacherRowNorms = null)
    {
        TensorChecks.RequireFeaturePair(student, nameof(student), teacher, nameof(teacher), rank: 4);
        if (teacherTerms is not null && (teacherTerms.numel() != student.shape[0] || teacherTerms.dtype != ScalarType.Float32))
            throw new ArgumentException($"{nameof(teacherTerms)} must hold one float32 value per image ({student.shape[0]}); got {teacherTerms.dtype} {TensorChecks.Shape(teacherTerms)}.", nameof(teacherTerms));
        if (teacherRowNorms is not null && (teacherRowNorms.dim() != 2 || teacherRowNorms.shape[0] != student.shape[0]
            || teacherRowNorms.shape[1] != teacher.shape[1] || teacherRowNorms.dtype != ScalarType.Float32))
            throw new ArgumentException($"{nameof(teacherRowNorms)} must be float32 [{student.shape[0]}, {teacher.shape[1]}] (images, teacher channels); got {teacherRowNorms.dtype} {TensorChecks.Shape(teacherRowNorms)}.", nameof(teacherRowNorms));

        using var scope = NewDisposeScope();
        using Scalar minusTwo = (-2.0).ToScalar();
        (Tensor s, Tensor t) = PoolToCommonSize(student, teacher.detach());
        Tensor studentRows = NormalizeChannelRows(s);

        // The teacher's rows are normalised only when its term is to be computed or its norms are not given (or so
        // large that the raw cross products could overflow).
        bool scaleAfter = teacherTerms is not null && teacherRowNorms is not null && teacherRowNorms.max().item<float>() <= ScaleAfterLimit;
        Tensor? teacherRows = scaleAfter ? null : NormalizeChannelRows(t);
        using Scalar floor = NormalizeEpsilon.ToScalar();
        Tensor crossGram = teacherRows is null
            ? bmm(studentRows, t.flatten(2).transpose(1, 2)).mul(teacherRowNorms!.clamp_min(floor).reciprocal().unsqueeze(1))
            : bmm(studentRows, teacherRows.transpose(1, 2));
        // Every image has C_t^2 teacher entries, so the mean over all of them is the mean of the per-image means.
        Tensor teacherTerm = teacherTerms?.mean() ?? PolynomialKernelMean(teacherRows!, teacherRows!);
        Tensor loss = PolynomialKernelMean(studentRows, studentRows)
            .add(teacherTerm, Scalars.One)
            .add(crossGram.square().mean(), minusTwo);

        // Normalised rows bound every term by 1, so only NaN or infinity in the features can make the loss
        // non-finite: check them only then, which spares a pass over both inputs on every call.
        if (!float.IsFinite(loss.item<float>()))
        {
            TensorChecks.RequireFiniteFeatures(student, nameof(student));
            TensorChecks.RequireFiniteFeatures(teacher, nameof(teacher));
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// What <see cref="NeuronSelectivityTransfer(Tensor, Tensor, Tensor?, Tensor?)"/> can be given per image, from one
    /// pass over the teacher's map (pooled to the student's size where smaller): the teacher's term, the mean over
    /// channel pairs of dot(t_i, t_j)^2 of its normalised rows, and the norms of its channel rows.
    /// </summary>
    /// <param name="student">Student feature map [B, C_s, H_s, W_s] (for its spatial size).</param>
    /// <param name="teacher">Teacher feature map [B, C_t, H_t, W_t].</param>
    /// <returns>Terms [B] and row norms [B, C_t], float32, without gradient.</returns>
    public static (Tensor Terms, Tensor RowNorms) NeuronSelectivityTeacherSide(Tensor student, Tensor teacher)
    {
        TensorChecks.RequireFeaturePair(student, nameof(student), teacher, nameof(teacher), rank: 4);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        (_, Tensor t) = PoolToCommonSize(student.detach(), teacher.detach());
        (Tensor rows, Tensor norms) = ChannelRows(t);
        Tensor terms = bmm(rows, rows.transpose(1, 2)).square().mean([1L, 2L]);
        return (terms.MoveToOuterDisposeScope(), norms.squeeze(2).MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Given row norms up to this, the cross Gram matrix is taken on the teacher's rows as they are and divided by the
    /// norms after; larger ones normalise the rows first. Its entries are at most the norms (the student's rows are unit
    /// rows or shorter), so they cannot overflow; the bound is set by the backward, which multiplies the cross
    /// entries' gradient by 1 / norm before the product with the rows: at norms of 1e31 that underflowed float32 for a
    /// student example below the 1e-12 floor (a test's 1e-25 example against a 1e30 teacher).
    /// </summary>
    private const float ScaleAfterLimit = 1e18f;

    /// <summary>[B, C, H, W] to [B, C, HW], each row divided by max(||row||, 1e-12) (F.normalize over HW).</summary>
    private static Tensor NormalizeChannelRows(Tensor map) => ChannelRows(map).Rows;

    /// <summary>The rows of <see cref="NormalizeChannelRows"/>, and the norms [B, C, 1] they were divided by (before the floor).</summary>
    private static (Tensor Rows, Tensor Norms) ChannelRows(Tensor map)
    {
        Tensor rows = map.flatten(2);
        Tensor norms = OverflowSafeNorm(rows, 2);
        using Scalar floor = NormalizeEpsilon.ToScalar();
        return (rows.div(norms.clamp_min(floor)), norms);
    }

    /// <summary>mean over b, i, j of dot(a[b, i], c[b, j])^2 for rows a [B, C_a, HW] and c [B, C_c, HW].</summary>
    private static Tensor PolynomialKernelMean(Tensor a, Tensor c) => bmm(a, c.transpose(1, 2)).square().mean();

    /// <summary>
    /// The L2 norm along <paramref name="dim"/> (kept as a size-1 dimension), computed as m ||x / m|| with
    /// m = max(1, max |x|) along that dimension.
    /// </summary>
    /// <remarks>
    /// Plain float32 norms overflow to infinity once the squares pass 3.4e38 (entries near 1e19), and x / inf is 0,
    /// so huge features would silently normalise to zero. Rows whose entries all lie in [-1, 1] are divided by
    /// exactly 1 (unchanged to the bit), others cost a rounding or two. m carries no gradient: m ||x / m|| does not
    /// depend on m, so the chain rule through x alone is exact. vector_norm's backward is 0 at a zero row, where a
    /// sqrt(sum x^2) composite would give NaN. Shared by NST and PKT.
    /// </remarks>
    private static Tensor OverflowSafeNorm(Tensor x, long dim)
    {
        Tensor scale = x.detach().abs().amax([dim], keepdim: true).clamp_min(Scalars.One);
        return linalg.vector_norm(x.div(scale), dims: [dim], keepdim: true).mul(scale);
    }
}
