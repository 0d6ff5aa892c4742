using GpuDistill.Diagnostics;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>Top-1 agreement and predictive KL on crafted logits and against a float64 loop.</summary>
public sealed class FidelityTests
{
    [Test]
    public void CraftedLogitsGiveKnownAgreementAndKL()
    {
        // Row 0: p = (1/2, 1/2), q = (3/4, 1/4), so KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3); argmaxes 0 and 0
        // (a tie picks the first class). Row 1: the same logits, KL 0, argmaxes 1 and 1. Row 2: argmaxes 0 and 1.
        using var scope = NewDisposeScope();
        Tensor teacher = tensor(new float[] { 0, 0, -1, 2, 5, 1 }, [3, 2]);
        Tensor student = tensor(new float[] { MathF.Log(3), 0, -1, 2, 1, 5 }, [3, 2]);
        FidelityResult result = Fidelity.FromLogits(teacher, student);
        double row2 = KL([5, 1], [1, 5]);
        Assert.Multiple(() =>
        {
            Assert.That(result.Examples, Is.EqualTo(3));
            Assert.That(result.Agreement, Is.EqualTo(2.0 / 3).Within(1e-15));
            Assert.That(result.MeanKL, Is.EqualTo((0.5 * Math.Log(4.0 / 3) + 0 + row2) / 3).Within(1e-7));
        });
    }

    [Test]
    public void IdenticalLogitsAgreeFully()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor logits = tensor(RandomData.Uniform(random, 64 * 10, 8), [64, 10]);
        FidelityResult result = Fidelity.FromLogits(logits, logits.clone());
        Assert.That(result.Agreement, Is.EqualTo(1));
        Assert.That(result.MeanKL, Is.EqualTo(0));
    }

    [TestCase(1, 1)]
    [TestCase(37, 10)]
    [TestCase(5, 1003)]
    public void MatchesFloat64Loop(int rows, int classes)
    {
        Random random = RandomData.NewRandom();
        float[] t = RandomData.Uniform(random, rows * classes, 20), s = RandomData.Uniform(random, rows * classes, 20);
        using var scope = NewDisposeScope();
        FidelityResult result = Fidelity.FromLogits(tensor(t, [rows, classes]), tensor(s, [rows, classes]));
        double kl = 0;
        int agree = 0;
        for (int i = 0; i < rows; i++)
        {
            double[] ti = ReferenceMath.ToDouble(t[(i * classes)..((i + 1) * classes)]);
            double[] si = ReferenceMath.ToDouble(s[(i * classes)..((i + 1) * classes)]);
            kl += KL(ti, si);
            if (Array.IndexOf(ti, ti.Max()) == Array.IndexOf(si, si.Max())) agree++;
        }
        Assert.That(result.Agreement, Is.EqualTo(agree / (double)rows).Within(1e-15));
        Assert.That(result.MeanKL, Is.EqualTo(kl / rows).Within(1e-12 * Math.Max(1, kl / rows)));
    }

    [Test]
    public void BadInputIsRejected()
    {
        using var scope = NewDisposeScope();
        Tensor good = rand(4, 3);
        ArgumentAssert.Rejects(() => Fidelity.FromLogits(good, rand(4, 5)), "teacherLogits", "shape");
        ArgumentAssert.Rejects(() => Fidelity.FromLogits(full(4, 3, float.NaN), good), "teacherLogits", "finite");
        ArgumentAssert.Rejects(() => Fidelity.FromLogits(good, rand(4)), "studentLogits", "rank 2");
    }

    /// <summary>KL(softmax(t) || softmax(s)) = sum_c p_c (log p_c - log q_c), in float64.</summary>
    private static double KL(double[] t, double[] s)
    {
        double[] logP = ReferenceMath.LogSoftmax(t, 1), logQ = ReferenceMath.LogSoftmax(s, 1);
        double sum = 0;
        for (int c = 0; c < t.Length; c++) sum += Math.Exp(logP[c]) * (logP[c] - logQ[c]);
        return sum;
    }
}
