using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The DKD reference: loss-spec 1.4's gradient against finite differences, and the KD decomposition.</summary>
public sealed class DecoupledKDReferenceTests
{
    [TestCase(1, 1, 4.0)]
    [TestCase(3, 2, 1.0)]
    [TestCase(4, 7, 0.5)]
    [TestCase(6, 11, 4.0)]
    [TestCase(5, 9, 20.0)]
    public void GradientMatchesFiniteDifferences(int rows, int classes, double temperature)
    {
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        int[] labels = RandomData.Labels(random, rows, classes, ignoreIndex: -100);
        labels[0] = classes - 1;
        const double alpha = 1.3, beta = 6.0, warmup = 0.4;

        (_, double[] gradient) = DecoupledKDReference.Compute(student, teacher, rows, classes, labels, temperature, alpha, beta, warmup);
        FiniteDifferences.AssertGradient(
            s => DecoupledKDReference.Compute(s, teacher, rows, classes, labels, temperature, alpha, beta, warmup).Loss,
            student, gradient);
    }

    [Test]
    public void TargetAndNonTargetTermsRecomposeTheKL()
    {
        // Zhao et al.'s identity: KL(p || q) = TCKD + (1 - p_g) NCKD, row by row.
        Random random = RandomData.NewRandom();
        for (int trial = 0; trial < 20; trial++)
        {
            int classes = 2 + random.Next(10);
            double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, classes, 5));
            double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, classes, 5));
            int g = random.Next(classes);
            double[] logQ = ReferenceMath.LogSoftmax(s, 2.0), logP = ReferenceMath.LogSoftmax(t, 2.0);
            (double tckd, double nckd, double pTarget) = DecoupledKDReference.RowTerms(logQ, logP, g);
            double kl = Enumerable.Range(0, classes).Sum(c => Math.Exp(logP[c]) * (logP[c] - logQ[c]));
            Assert.That(tckd + (1 - pTarget) * nckd, Is.EqualTo(kl).Within(1e-12 + 1e-10 * kl), $"trial {trial}");
        }
    }
}
