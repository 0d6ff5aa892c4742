using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// The relation losses written as TorchSharp ops (differentiated by libtorch), for the bridge tests, plus shared
/// assertions. Each composite follows its loss-spec formula literally, materialising every intermediate.
/// </summary>
public static class RelationalLossTestMath
{
    /// <summary>SP: ||normalize(G_t) - normalize(G_s)||_F^2 / B^2 with G = F F^T (F flattened).</summary>
    public static Tensor SimilarityPreserving(Tensor student, Tensor teacher)
    {
        long b = student.shape[0];
        Tensor fs = student.flatten(1), ft = teacher.flatten(1);
        Tensor gs = nn.functional.normalize(fs.matmul(fs.t()), 2, 1, 1e-12);
        Tensor gt = nn.functional.normalize(ft.matmul(ft.t()), 2, 1, 1e-12);
        return (gt - gs).pow(2).sum() / (b * b);
    }

    /// <summary>RKD distance: smooth_l1(d_s / mu_s, d_t / mu_t) averaged over B^2.</summary>
    public static Tensor RelationalDistance(Tensor student, Tensor teacher)
    {
        Tensor ds = NormalisedDistances(student.flatten(1)), dt = NormalisedDistances(teacher.flatten(1));
        return nn.functional.smooth_l1_loss(ds, dt);
    }

    /// <summary>RKD angle: smooth_l1 of the B x B x B angle tensors averaged over B^3.</summary>
    public static Tensor RelationalAngle(Tensor student, Tensor teacher) =>
        nn.functional.smooth_l1_loss(Angles(student.flatten(1)), Angles(teacher.flatten(1)));

    /// <summary>The B x B x B tensor a_ijk = u_ij . u_ik, u_ij = normalize(e_j - e_i).</summary>
    public static Tensor Angles(Tensor e)
    {
        Tensor u = nn.functional.normalize(e.unsqueeze(0) - e.unsqueeze(1), 2, 2, 1e-12);
        return u.bmm(u.transpose(1, 2));
    }

    /// <summary>FSP of pooled [B, C, H, W] maps: mean over B C2 C1 of (G_s - G_t)^2.</summary>
    public static Tensor FlowMatrix(Tensor studentBottom, Tensor studentTop, Tensor teacherBottom, Tensor teacherTop) =>
        (Flow(studentBottom, studentTop) - Flow(teacherBottom, teacherTop)).pow(2).mean();

    /// <summary>CC (RepDistiller): mean over i of sum_d |f_s - f_t|_i,d |f_s - f_t|_i+1,d.</summary>
    public static Tensor CorrelationCongruenceRepDistiller(Tensor student, Tensor teacher)
    {
        Tensor delta = (student - teacher).abs();
        long b = delta.shape[0];
        return (delta.narrow(0, 0, b - 1) * delta.narrow(0, 1, b - 1)).sum(1).mean();
    }

    /// <summary>CC (torchdistill): ||k(F_s F_s^T) - k(F_t F_t^T)||_F / B^2.</summary>
    public static Tensor CorrelationCongruenceKernel(Tensor student, Tensor teacher, bool gaussian, double gamma, int order)
    {
        long b = student.shape[0];
        return (Correlation(student.flatten(1), gaussian, gamma, order) - Correlation(teacher.flatten(1), gaussian, gamma, order))
            .pow(2).sum().sqrt() / (b * b);
    }

    /// <summary>Asserts a fused loss and its student gradient against expected values.</summary>
    public static void AssertClose(double loss, Tensor gradient, double expectedLoss, double[] expectedGradient,
        double tolerance, string what, double gradientFloor = 1e-30)
    {
        double lossError = Math.Abs(loss - expectedLoss) / Math.Max(Math.Abs(expectedLoss), 1e-30);
        double gradientError = Tolerance.RelativeMaxError(TensorData.ToArray(gradient), expectedGradient, gradientFloor);
        TestContext.Out.WriteLine($"{what}: loss rel. error {lossError:E2}, gradient rel. error {gradientError:E2}");
        Assert.Multiple(() =>
        {
            Assert.That(lossError, Is.LessThan(tolerance), $"loss {loss:R} vs {expectedLoss:R}, {what}");
            Assert.That(gradientError, Is.LessThan(tolerance), $"gradient, {what}");
        });
    }

    /// <summary>A float32 tensor of the given shape, uniform in [-scale, scale], from the test's random source.</summary>
    public static Tensor RandomFeatures(Random random, double scale, params long[] shape)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        return tensor(RandomData.Uniform(random, count, scale), shape);
    }

    /// <summary>A tensor's values widened to float64.</summary>
    public static double[] Values(Tensor t) => Array.ConvertAll(TensorData.ToArray(t.detach()), v => (double)v);

    private static Tensor NormalisedDistances(Tensor e)
    {
        long b = e.shape[0];
        Tensor squared = (e.unsqueeze(0) - e.unsqueeze(1)).pow(2).sum(2);
        Tensor d = squared.clamp_min(1e-12).sqrt() * (1 - eye(b, dtype: e.dtype));
        Tensor positive = d.gt(0);
        return d / d.masked_select(positive).mean();
    }

    private static Tensor Flow(Tensor bottom, Tensor top)
    {
        long area = bottom.shape[2] * bottom.shape[3];
        Tensor b = bottom.flatten(2), t = top.flatten(2);
        return t.bmm(b.transpose(1, 2)) / area;
    }

    private static Tensor Correlation(Tensor f, bool gaussian, double gamma, int order)
    {
        Tensor g = f.matmul(f.t());
        if (!gaussian) return g;
        Tensor sum = ones_like(g);
        double factorial = 1;
        for (int p = 1; p <= order; p++)
        {
            factorial *= p;
            sum = sum + g.pow(p) * (Math.Pow(2 * gamma, p) / factorial);
        }
        return sum * Math.Exp(-2 * gamma);
    }
}
