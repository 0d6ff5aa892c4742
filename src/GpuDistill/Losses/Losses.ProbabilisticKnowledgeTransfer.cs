using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>The eps of PKT's normalisation and log-ratio (RepDistiller's and torchdistill's default).</summary>
    public const double DefaultPktEpsilon = 1e-7;

    /// <summary>
    /// Probabilistic knowledge transfer (Passalis and Tefas 2018, loss-spec 2.4): the divergence between the
    /// teacher's and the student's conditional probabilities of one example given another, built from the cosine
    /// similarities of their features within the batch.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Each example's features are flattened to a row x and scaled to x / (||x|| + eps), a NaN becoming 0; with X
    /// those rows, K = X X^T, K' = (K + 1) / 2 and P = K' / rowsum(K'), computed for the student and, detached, for
    /// the teacher. L = mean over all B^2 pairs (the diagonal included) of P_t log((P_t + eps) / (P_s + eps)). The
    /// feature sizes of student and teacher may differ. <c>loss.backward()</c> gives the student the gradient of
    /// loss-spec 2.4 times the upstream gradient, and the teacher nothing.
    /// </para>
    /// <para>
    /// Degenerate batches stay finite: an all-zero example scales to zero (eps keeps the division defined), a batch
    /// of one gives P = 1 and L = 0, and K' is clamped at 0 from below, since float32 rounding can take a cosine of
    /// two opposite examples just below -1 and make a probability negative.
    /// </para>
    /// <para>
    /// A TorchSharp composition, not an ILGPU kernel: the work is the B x B Gram matrix X X^T and its gradient,
    /// GEMM-shaped O(B^2 D), which mm hands to libtorch's BLAS (cuBLAS on CUDA) and a hand-written ILGPU kernel would
    /// not beat; the rest is elementwise work on B x B matrices.
    /// </para>
    /// </remarks>
    /// <param name="student">Student features [B, ...] (rank 2 or more, flattened to [B, D_s]), float32, on any device.</param>
    /// <param name="teacher">Teacher features [B, ...], float32, on the student's device (never receives a gradient).</param>
    /// <param name="eps">The eps of the normalisation and the log-ratio: finite, &gt; 0, a normal float32.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor ProbabilisticKnowledgeTransfer(Tensor student, Tensor teacher, double eps = DefaultPktEpsilon)
    {
        TensorChecks.RequireFeaturePair(student, nameof(student), teacher, nameof(teacher), rank: null, minRank: 2);
        TensorChecks.RequireFeatureEpsilon(eps, nameof(eps));
        // Checked up front: the NaN-to-0 rule of the definition would otherwise turn bad features into a finite loss.
        TensorChecks.RequireFiniteFeatures(student, nameof(student));
        TensorChecks.RequireFiniteFeatures(teacher, nameof(teacher));

        using var scope = NewDisposeScope();
        using Scalar epsilon = eps.ToScalar();
        using Scalar minusOne = (-1.0).ToScalar();
        Tensor studentP = PktConditionalProbabilities(student.flatten(1), epsilon);
        Tensor teacherP = PktConditionalProbabilities(teacher.detach().flatten(1), epsilon);

        Tensor logRatio = teacherP.add(epsilon, Scalars.One).log()
            .add(studentP.add(epsilon, Scalars.One).log(), minusOne);
        return teacherP.mul(logRatio).mean().MoveToOuterDisposeScope();
    }

    /// <summary>P = K' / rowsum(K') with K' = max((X X^T + 1) / 2, 0) and X the rows x / (||x|| + eps), NaN set to 0.</summary>
    private static Tensor PktConditionalProbabilities(Tensor features, Scalar eps)
    {
        using Scalar half = 0.5.ToScalar();
        using Scalar zero = 0.0.ToScalar();
        Tensor unit = features.div(OverflowSafeNorm(features, 1).add(eps, Scalars.One)).nan_to_num();
        Tensor similarity = unit.mm(unit.t()).add(Scalars.One, Scalars.One).mul(half).clamp_min(zero);
        return similarity.div(similarity.sum(1, keepdim: true));
    }
}
