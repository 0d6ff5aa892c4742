using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The dominant right singular vector of each example's feature map: MHGD's compression of a layer to one vector
/// per example (Lee and Song 2019, section 3.1; the reference code's <c>SVD_eid(feature, 1)</c>).
/// </summary>
public static class SingularVectors
{
    /// <summary>-1, the alpha of a subtraction (held for the process: see <see cref="Scalars"/>).</summary>
    private static readonly Scalar MinusOne = (-1.0).ToScalar();

    /// <summary>Top eigenvalues below this are a zero map: its vector is 0.</summary>
    private const double ZeroMap = 1e-30;

    /// <summary>Squarings of the Gram matrix before the power iteration: its steps then apply G^(2^k).</summary>
    private const int Squarings = 3;

    /// <summary>Power-iteration steps with G^(2^<see cref="Squarings"/>) before the convergence check (3 steps with
    /// G^8: as far as 24 steps with G).</summary>
    private const int PowerSteps = 3;

    /// <summary>A row has converged when ||M v - l v|| &lt;= this times l (l the Rayleigh quotient).</summary>
    private const double PowerTolerance = 2e-6;

    /// <summary>Eigenvalue gaps are raised by this fraction of the top eigenvalue, so a (near-)degenerate top pair
    /// gives a large but finite gradient.</summary>
    private const double RelativeGapFloor = 1e-6;

    /// <summary>
    /// For features [B, C, H, W], the unit vector v [B, C] that maximises ||X v|| for each example's X = the map as an
    /// [H*W, C] matrix (the top eigenvector of X^T X), its sign chosen so that sum(v) &gt;= 0; for features [B, D]
    /// (one row per example) v = x / ||x||. An all-zero example gives 0.
    /// </summary>
    /// <remarks>
    /// <para>
    /// The reference code aligns the student's vector's sign to the teacher's by their cosine, which needs equal
    /// widths; here student and teacher may differ in width, so each sign is fixed on its own: for post-ReLU maps
    /// X^T X has no negative entry and its top eigenvector can be taken non-negative (Perron-Frobenius), which
    /// sum(v) &gt;= 0 picks.
    /// </para>
    /// <para>
    /// The gradient is exact: with M = X^T X = sum_j l_j v_j v_j^T, dv_1 = sum_{j &gt; 1} v_j v_j^T dM v_1 / (l_1 - l_j),
    /// written as v_1 + R (M v_1 - detach(M v_1)) so that autograd carries it to X, with R applied as a Cholesky solve
    /// (<see cref="ResolventFactor"/>) instead of built from an eigendecomposition. Unlike differentiating libtorch's
    /// eigh, repeated lower eigenvalues (dead channels, rank below C) never divide 0 by 0. v_1 itself comes from the
    /// power iteration (eigh where it has not converged), with a gradient or without; without one the smaller of
    /// X^T X and X X^T is used. Measured on an AVX2 EPYC (2 cores, two threads), B = 128, small-cnn's three stages, a
    /// forward and backward took 33-34 ms with eigh on every example and 15-19 ms this way.
    /// </para>
    /// </remarks>
    /// <param name="features">Float32 features [B, C, H, W] or [B, D], finite.</param>
    /// <returns>Unit vectors [B, C] (or [B, D]), with an autograd graph back to <paramref name="features"/>.</returns>
    public static Tensor TopRight(Tensor features)
    {
        TensorChecks.RequireFeaturePair(features, nameof(features), features, nameof(features), rank: null, minRank: 2);
        if (features.dim() != 2 && features.dim() != 4)
            throw new ArgumentException($"{nameof(features)} must be [B, C, H, W] or [B, D]; got shape {TensorChecks.Shape(features)}.", nameof(features));
        TensorChecks.RequireFiniteFeatures(features, nameof(features));

        using var scope = NewDisposeScope();
        if (features.dim() == 2)
            return nn.functional.normalize(features, p: 2, dim: 1, eps: 1e-12).MoveToOuterDisposeScope();

        Tensor x = features.flatten(2).transpose(1, 2);   // [B, HW, C]
        long hw = x.shape[1], c = x.shape[2];
        bool needsGradient = features.requires_grad && is_grad_enabled();
        if (!needsGradient)
        {
            using var noGrad = no_grad();
            bool rows = hw < c;
            Tensor gram = rows ? x.bmm(x.transpose(1, 2)) : x.transpose(1, 2).bmm(x);   // the smaller of X X^T, X^T X
            Tensor top = TopEigenvector(gram);
            if (rows) top = nn.functional.normalize(x.transpose(1, 2).bmm(top.unsqueeze(2)).squeeze(2), p: 2, dim: 1, eps: 1e-12);
            return SignFixed(top).MoveToOuterDisposeScope();
        }

        Tensor moment = x.transpose(1, 2).bmm(x);         // [B, C, C], carries the gradient when there is one
        Tensor v1, factor, alive;
        using (no_grad())
        {
            Tensor m = moment.detach();
            v1 = SignFixed(TopEigenvector(m));
            Tensor top = m.bmm(v1.unsqueeze(2)).squeeze(2).mul(v1).sum(1, keepdim: true);   // l_1 [B, 1]
            using Scalar zeroMap = ZeroMap.ToScalar();
            alive = top.gt(zeroMap).to_type(features.dtype);
            (factor, v1) = ResolventFactor(m, v1, top, alive);
        }
        // dv_1 = R dM v_1, R = sum_{j > 1} v_j v_j^T / (l_1 - l_j) applied as a solve with A (ResolventFactor) to the
        // part of dM v_1 orthogonal to v_1: A maps that subspace onto itself with the same eigenvectors.
        Tensor moved = moment.bmm(v1.unsqueeze(2));                           // [B, C, 1]
        Tensor delta = moved.add(moved.detach(), MinusOne);
        Tensor column = v1.unsqueeze(2);
        Tensor orthogonal = delta.add(column.bmm(column.transpose(1, 2).bmm(delta)), MinusOne);
        Tensor change = cholesky_solve(orthogonal.to_type(ScalarType.Float64), factor).to_type(features.dtype).squeeze(2);
        return v1.add(change, Scalars.One).mul(alive).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The Cholesky factor (float64) of A = (1 + f) l_1 I + l_1 v_1 v_1^T - M for each example, f =
    /// <see cref="RelativeGapFloor"/>: A's eigenvalues are (1 + f) l_1 along v_1 and l_1 - l_j + f l_1 along the others,
    /// so on the complement of v_1 its inverse is the resolvent with each gap floored smoothly, and a (near-)degenerate
    /// top pair gives a large but finite gradient. A is positive definite exactly when v_1 is the top eigenvector; the
    /// rows where it is not (a power iteration settled on another one) take eigh's top vector and are factored again.
    /// Zero maps factor the identity (their vectors are 0).
    /// </summary>
    private static (Tensor Factor, Tensor Top) ResolventFactor(Tensor moment, Tensor v1, Tensor top, Tensor alive)
    {
        long c = moment.shape[1];
        Tensor a = Shifted(moment, v1, top, alive);
        (Tensor factor, Tensor info) = linalg.cholesky_ex(a);
        Tensor failed = info.ne(0L).nonzero().squeeze(1);
        if (failed.shape[0] == 0) return (factor, v1);
        Tensor m = moment.index_select(0, failed);
        (Tensor _, Tensor vectors) = linalg.eigh(m);
        Tensor fixedV = SignFixed(vectors.narrow(2, c - 1, 1).squeeze(2));
        Tensor fixedTop = m.bmm(fixedV.unsqueeze(2)).squeeze(2).mul(fixedV).sum(1, keepdim: true);
        v1 = v1.index_copy(0, failed, fixedV);
        Tensor refactored = linalg.cholesky(Shifted(m, fixedV, fixedTop, alive.index_select(0, failed)));
        return (factor.index_copy(0, failed, refactored), v1);
    }

    /// <summary>A of <see cref="ResolventFactor"/> in float64 (the identity for zero maps).</summary>
    private static Tensor Shifted(Tensor moment, Tensor v1, Tensor top, Tensor alive)
    {
        long c = moment.shape[1];
        Tensor m = moment.to_type(ScalarType.Float64);
        Tensor v = v1.to_type(ScalarType.Float64);
        Tensor l = top.to_type(ScalarType.Float64).unsqueeze(2);                         // [B, 1, 1]
        Tensor eye = torch.eye(c, dtype: ScalarType.Float64).unsqueeze(0);
        using Scalar shift = (1 + RelativeGapFloor).ToScalar();
        Tensor a = eye.mul(l.mul(shift)).add(v.unsqueeze(2).bmm(v.unsqueeze(1)).mul(l), Scalars.One).add(m, MinusOne);
        return where(alive.to_type(ScalarType.Bool).unsqueeze(2), a, eye);
    }

    /// <summary>
    /// The top eigenvector of each symmetric positive semi-definite [n, n] matrix (0 for a zero matrix), by power
    /// iteration from the row sums with G^8 (three squarings, each scaled by its trace so that it stays in range), the
    /// rows that have not converged after <see cref="PowerSteps"/> steps recomputed by eigh. The squarings are three
    /// matrix products where 24 steps with G were 24 matrix-vector products, each a libtorch call whose fixed cost
    /// outweighs its arithmetic at these sizes. Measured on this project's shared 2-core machine, one thread,
    /// B = 128, the teacher-cnn's three stages (load ~12): eigh alone ~190 ms, 24 plain steps ~16-26 ms, the
    /// squarings and 3 steps ~8 ms. The Gram matrices of post-ReLU maps have a dominant eigenvalue, so the fallback
    /// is rare.
    /// </summary>
    private static Tensor TopEigenvector(Tensor gram)
    {
        long n = gram.shape[1];
        using Scalar tiny = ZeroMap.ToScalar();
        using Scalar tolerance = PowerTolerance.ToScalar();
        Tensor power = gram;
        for (int k = 0; k < Squarings; k++)
        {
            // Dividing by the trace keeps the eigenvalues in [0, 1] (their sum is 1); a zero matrix stays zero.
            Tensor trace = power.diagonal(0, 1, 2).sum(1).clamp_min(tiny).view(-1, 1, 1);
            Tensor scaled = power.div(trace);
            power = scaled.bmm(scaled);
        }
        Tensor v = nn.functional.normalize(gram.sum(2).abs().add(tiny, Scalars.One), p: 2, dim: 1, eps: 1e-30);
        for (int step = 0; step < PowerSteps; step++)
            v = nn.functional.normalize(power.bmm(v.unsqueeze(2)).squeeze(2), p: 2, dim: 1, eps: 1e-30);
        Tensor moved = gram.bmm(v.unsqueeze(2)).squeeze(2);
        Tensor value = moved.mul(v).sum(1, keepdim: true);                               // Rayleigh quotient
        Tensor residual = moved.add(v.mul(value), MinusOne).norm(1, keepdim: true);
        Tensor alive = value.gt(tiny);
        Tensor unsettled = residual.gt(value.mul(tolerance)).logical_and(alive).squeeze(1).nonzero().squeeze(1);
        if (unsettled.shape[0] > 0)
        {
            (Tensor _, Tensor vectors) = linalg.eigh(gram.index_select(0, unsettled));
            v = v.index_copy(0, unsettled, vectors.narrow(2, n - 1, 1).squeeze(2));
        }
        return v.mul(alive.to_type(v.dtype));
    }

    /// <summary>Flips each row whose entries sum below 0.</summary>
    private static Tensor SignFixed(Tensor v)
    {
        using Scalar zero = 0.0.ToScalar();
        using Scalar one = 1.0.ToScalar();
        using Scalar minusOne = (-1.0).ToScalar();
        Tensor sign = where(v.sum(1, keepdim: true).ge(zero), full([1], one, dtype: v.dtype), full([1], minusOne, dtype: v.dtype));
        return v.mul(sign);
    }
}
