using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>
/// The relation losses SP, RKD distance and angle, FSP and CC (RepDistiller's) written as TorchSharp ops, differentiated by
/// libtorch: what <see cref="Losses"/> runs on a host device (<c>simd</c>), and the baseline perf/ measures the fused
/// kernels against.
/// </summary>
/// <remarks>
/// On a CPU the relation losses are matrix products, and libtorch's blocked GEMM beats the fused kernels on ILGPU's
/// CPU accelerator (one simulated thread per matrix entry) by 100-1000x (docs/perf): so a host device takes this
/// path, and the fused kernels serve the CPU, CUDA and OpenCL accelerators. The math is the kernels' (loss-spec 3),
/// written the way RepDistiller writes it; the tests hold both to the same float64 references. Inputs arrive validated
/// and flattened ([B, D], or [B, C, HW] for FSP); constants go through Scalars held for the call, never bare numbers
/// (see <see cref="Scalars"/>).
/// </remarks>
public static class RelationComposites
{
    /// <summary>SP: ||rownorm(F_t F_t^T) - rownorm(F_s F_s^T)||_F^2 / B^2 (eps 1e-12).</summary>
    /// <param name="student">Student features [B, Ds].</param>
    /// <param name="teacher">Teacher features [B, Dt] (detached here).</param>
    /// <returns>A scalar.</returns>
    public static Tensor SimilarityPreserving(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        using Scalar pairs = ((double)student.shape[0] * student.shape[0]).ToScalar();
        using Tensor t = teacher.detach();
        Tensor gs = nn.functional.normalize(student.mm(student.t()), 2, 1, 1e-12);
        Tensor gt = nn.functional.normalize(t.mm(t.t()), 2, 1, 1e-12);
        return gt.add(gs, Scalars.MinusOne).square().sum().div(pairs);
    }

    /// <summary>RKD distance: mean over B^2 of smooth_l1(d_s / mu_s - d_t / mu_t) (Huber, delta 1).</summary>
    /// <param name="student">Student embeddings [B, Ds], B &gt;= 2.</param>
    /// <param name="teacher">Teacher embeddings [B, Dt] (detached here).</param>
    /// <returns>A scalar.</returns>
    public static Tensor RelationalDistance(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        using Tensor t = teacher.detach();
        return nn.functional.smooth_l1_loss(NormalisedDistances(student), NormalisedDistances(t));
    }

    /// <summary>RKD angle: mean over B^3 of smooth_l1(a_s - a_t), a_ijk = u_ij . u_ik, u_ij = normalize(e_j - e_i).</summary>
    /// <remarks>Materialises B x B x D differences and the B x B x B angles (the fused kernel does not).</remarks>
    /// <param name="student">Student embeddings [B, Ds].</param>
    /// <param name="teacher">Teacher embeddings [B, Dt] (detached here).</param>
    /// <returns>A scalar.</returns>
    public static Tensor RelationalAngle(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        using Tensor t = teacher.detach();
        return nn.functional.smooth_l1_loss(Angles(student), Angles(t));
    }

    /// <summary>FSP: mean over B C2 C1 of (G_s - G_t)^2, G = top bottom^T / HW per example.</summary>
    /// <param name="studentBottom">Student's lower layer, pooled, [B, C1, HW].</param>
    /// <param name="studentTop">Student's upper layer, pooled, [B, C2, HW].</param>
    /// <param name="teacherBottom">Teacher's lower layer, pooled, [B, C1, hw] (detached here).</param>
    /// <param name="teacherTop">Teacher's upper layer, pooled, [B, C2, hw] (detached here).</param>
    /// <returns>A scalar.</returns>
    public static Tensor FlowMatrix(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop)
    {
        ArgumentNullException.ThrowIfNull(studentBottom);
        ArgumentNullException.ThrowIfNull(studentTop);
        ArgumentNullException.ThrowIfNull(teacherBottom);
        ArgumentNullException.ThrowIfNull(teacherTop);
        using Tensor tb = teacherBottom.detach(), tt = teacherTop.detach();
        return Flow(studentBottom, studentTop).add(Flow(tb, tt), Scalars.MinusOne).square().mean();
    }

    /// <summary>CC as RepDistiller computes it: mean over i &lt; B-1 of sum_d |f_s - f_t|_i,d |f_s - f_t|_i+1,d; the
    /// teacher input is not detached (its embedding trains).</summary>
    /// <param name="student">Student embeddings [B, D], B &gt;= 2.</param>
    /// <param name="teacher">Teacher embeddings [B, D].</param>
    /// <returns>A scalar.</returns>
    public static Tensor CorrelationCongruenceRepDistiller(Tensor student, Tensor teacher)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        long b = student.shape[0];
        Tensor delta = student.add(teacher, Scalars.MinusOne).abs();
        return delta.narrow(0, 0, b - 1).mul(delta.narrow(0, 1, b - 1)).sum(1).mean();
    }

    /// <summary>Pairwise distances sqrt(max(|e_i|^2 + |e_j|^2 - 2 e_i.e_j, 1e-12)), 0 on the diagonal, over their off-diagonal mean.</summary>
    private static Tensor NormalisedDistances(Tensor e)
    {
        using Scalar floor = 1e-12.ToScalar(), zero = 0.0.ToScalar();
        long b = e.shape[0];
        Tensor square = e.square().sum(1);
        // A GEMM need not give G_ij and G_ji bit for bit alike; the symmetrised Gram makes d_ij = d_ji exactly, so
        // equal distances normalise to exactly 1 (a batch of two gives a loss of exactly 0, as the kernel does).
        Tensor gram = e.mm(e.t());
        Tensor d = square.unsqueeze(1).add(square.unsqueeze(0), Scalars.One).add(gram, Scalars.MinusOne).add(gram.t(), Scalars.MinusOne)
            .clamp_min(floor).sqrt();
        using Tensor diagonal = eye(b, dtype: ScalarType.Bool);
        d = d.masked_fill(diagonal, zero);
        // Every off-diagonal entry is >= 1e-6 after the clamp, so the mean over d > 0 is the off-diagonal mean.
        using Scalar offDiagonal = ((double)b * (b - 1)).ToScalar();
        return d.div(d.sum().div(offDiagonal));
    }

    private static Tensor Angles(Tensor e)
    {
        Tensor u = nn.functional.normalize(e.unsqueeze(0).add(e.unsqueeze(1), Scalars.MinusOne), 2, 2, 1e-12);
        return u.bmm(u.transpose(1, 2));
    }

    private static Tensor Flow(Tensor bottom, Tensor top)
    {
        using Scalar area = ((double)bottom.shape[2]).ToScalar();
        return top.bmm(bottom.transpose(1, 2)).div(area);
    }
}
