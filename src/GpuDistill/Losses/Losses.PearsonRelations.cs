using GpuDistill.Autograd;
using GpuDistill.Compute;
using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

public static partial class Losses
{
    /// <summary>What <see cref="PearsonRelations"/> adds to the product of norms (the reference code's 1e-8).</summary>
    public const double PearsonEpsilon = 1e-8;

    /// <summary>Up to this many logits (B x C) DIST runs as one host call on a simd device (measured crossover with the
    /// composite: about 15,000, one thread).</summary>
    public const long PearsonRelationsHostElements = 1 << 14;

    /// <summary>
    /// DIST (Huang et al. 2022, "Knowledge Distillation from A Stronger Teacher"): with p = softmax(z / T) for both
    /// models, L = T^2 (interWeight (1 - mean over examples of pearson(p_s[i, :], p_t[i, :])) + intraWeight (1 - mean
    /// over classes of pearson(p_s[:, c], p_t[:, c]))). It asks the student to rank classes as the teacher does (inter)
    /// and to rank examples within a class as the teacher does (intra), not to match the probabilities themselves,
    /// which a student far smaller than its teacher cannot.
    /// </summary>
    /// <remarks>
    /// On a host (<c>simd</c>) device, up to <see cref="PearsonRelationsHostElements"/> logits, one host call computes
    /// the loss and its gradient (Compute.HostSimd.HostPearsonRelations: at [128, 10] a dozen libtorch calls cost half
    /// a small MLP's step); otherwise a differentiable TorchSharp composition (softmax, centring, norms), which wins on
    /// large inputs (at 4096 x 1000 it took half the host call's time). pearson(a, b) = (a - mean a) . (b - mean b)
    /// / (||a - mean a|| ||b - mean b|| + 1e-8), as the reference code. A constant row or column (a uniform softmax, or
    /// a batch of one image for the intra part) has correlation 0 and a zero gradient, so a batch of one adds the
    /// constant intraWeight T^2. The teacher gets no gradient.
    /// </remarks>
    /// <param name="student">Student logits [B, C], float32, CPU.</param>
    /// <param name="teacher">Teacher logits [B, C], float32, CPU (never receives a gradient).</param>
    /// <param name="temperature">T &gt; 0 (the reference's 1; 4 in its CIFAR runs).</param>
    /// <param name="interWeight">Weight of the inter-class part (beta, &gt;= 0).</param>
    /// <param name="intraWeight">Weight of the intra-class part (gamma, &gt;= 0).</param>
    /// <param name="device">Where it runs; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>A scalar float32 tensor.</returns>
    /// <exception cref="ArgumentException">Shapes, dtype, a bad temperature or weight, NaN or infinity; each named.</exception>
    public static Tensor PearsonRelations(Tensor student, Tensor teacher, double temperature, double interWeight = 1,
        double intraWeight = 1, ComputeDevice? device = null)
    {
        TensorChecks.RequireLogitPair(student, nameof(student), teacher, nameof(teacher));
        TensorChecks.RequireTemperature(temperature, nameof(temperature));
        TensorChecks.RequireWeight(interWeight, nameof(interWeight));
        TensorChecks.RequireWeight(intraWeight, nameof(intraWeight));
        if ((device ?? ComputeDevice.Default).UsesHostSimd && student.numel() <= PearsonRelationsHostElements)
            return PearsonRelationsFunction.apply(student, teacher, new PearsonRelationsRequest(temperature, interWeight, intraWeight));

        using var scope = NewDisposeScope();
        using Scalar t = temperature.ToScalar(), inter = (interWeight * temperature * temperature).ToScalar(),
            intra = (intraWeight * temperature * temperature).ToScalar(), total = ((interWeight + intraWeight) * temperature * temperature).ToScalar();
        Tensor ps = student.div(t).softmax(1), pt = teacher.detach().div(t).softmax(1);
        // L = (inter + intra) T^2 - inter T^2 mean r_rows - intra T^2 mean r_columns.
        Tensor loss = MeanPearson(ps, pt, 1).mul(inter).add(MeanPearson(ps, pt, 0).mul(intra)).neg().add(total);
        // Probabilities bound every correlation, so only NaN or infinity in the logits can make the loss non-finite.
        if (!float.IsFinite(loss.item<float>()))
        {
            TensorChecks.RequireFinite(student, nameof(student));
            TensorChecks.RequireFinite(teacher, nameof(teacher));
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Mean over the other dimension of the Pearson correlation of <paramref name="a"/> and <paramref name="b"/> along <paramref name="dim"/>.</summary>
    private static Tensor MeanPearson(Tensor a, Tensor b, long dim)
    {
        using Scalar epsilon = PearsonEpsilon.ToScalar();
        Tensor ca = a.sub(a.mean([dim], keepdim: true)), cb = b.sub(b.mean([dim], keepdim: true));
        Tensor products = linalg.vector_norm(ca, dims: [dim]).mul(linalg.vector_norm(cb, dims: [dim])).add(epsilon);
        return ca.mul(cb).sum(dim).div(products).mean();
    }
}
