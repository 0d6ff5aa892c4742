using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>What <see cref="StandardizeLogits"/> adds to a row's standard deviation (the reference code's 1e-7).</summary>
    public const double StandardizationEpsilon = 1e-7;

    /// <summary>
    /// Logit standardisation (Sun et al. 2024, "Logit Standardization in Knowledge Distillation"): each row z of
    /// <paramref name="logits"/> becomes (z - mean(z)) / (std(z) + 1e-7), std with Bessel's correction as the reference
    /// code's torch.std. A softened loss on the result compares the shapes of the two rows' logits, not their scale,
    /// so a small student need not match a large teacher's logit range (the temperature becomes a base temperature).
    /// </summary>
    /// <remarks>
    /// A differentiable TorchSharp composition; the gradient flows through it into the logits. Overflow-safe: the row
    /// is first divided by a = max(1, max |z|) (held constant, which leaves the function and so its gradient exact:
    /// (z - m_z) / (s_z + eps) = (u - m_u) / (s_u + eps / a) for u = z / a), so logits near float32's range do not
    /// square to infinity. The norm's backward is 0 on a constant row (which maps to 0), where sqrt(sum d^2) would give
    /// NaN. A row of one class maps to 0 (its softmax is 1 whatever the logit), with a zero gradient.
    /// </remarks>
    /// <param name="logits">Logits [B, C], float32, CPU.</param>
    /// <param name="name">The argument's name for error messages.</param>
    /// <returns>The standardised logits [B, C].</returns>
    /// <exception cref="ArgumentException">Not a float32 CPU matrix (the message names <paramref name="name"/>).</exception>
    public static Tensor StandardizeLogits(Tensor logits, string name = "logits")
    {
        (_, int classes) = TensorChecks.RequireLogits(logits, name);
        if (classes == 1)
        {
            using Scalar zero = 0.0.ToScalar();
            return logits.mul(zero);
        }

        using var scope = NewDisposeScope();
        Tensor scale = logits.detach().abs().amax([1], keepdim: true).clamp_min(Scalars.One);
        Tensor u = logits.div(scale);
        Tensor centred = u.sub(u.mean([1], keepdim: true));
        using Scalar besselRoot = Math.Sqrt(classes - 1).ToScalar(), epsilon = StandardizationEpsilon.ToScalar();
        Tensor std = linalg.vector_norm(centred, dims: [1], keepdim: true).div(besselRoot);
        Tensor floor = scale.reciprocal().mul(epsilon);
        return centred.div(std.add(floor)).MoveToOuterDisposeScope();
    }
}
