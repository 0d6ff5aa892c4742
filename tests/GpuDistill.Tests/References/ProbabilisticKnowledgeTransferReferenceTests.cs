using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The PKT reference: its gradient (loss-spec 2.4's chain) against central finite differences of its own loss, and
/// the properties of its conditional probabilities.
/// </summary>
public sealed class ProbabilisticKnowledgeTransferReferenceTests
{
    [TestCase(4, 5, 6, 1e-7)]
    [TestCase(3, 8, 3, 1e-2)]
    [TestCase(6, 2, 9, 1e-7)]
    [TestCase(2, 1, 1, 1e-2)]
    public void GradientMatchesFiniteDifferences(int batch, int studentDim, int teacherDim, double eps)
    {
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * studentDim, 2));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * teacherDim, 2));

        (_, double[] gradient, _) = ProbabilisticKnowledgeTransferReference.Compute(student, batch, studentDim, teacher, teacherDim, eps);
        FiniteDifferences.AssertGradient(
            s => ProbabilisticKnowledgeTransferReference.Compute(s, batch, studentDim, teacher, teacherDim, eps).Loss,
            student, gradient);
    }

    [Test]
    public void GradientAtAZeroExampleMatchesFiniteDifferences()
    {
        // x / (||x|| + eps) is x / eps to first order at x = 0, but its second-order term x ||x|| / eps^2 has a kink
        // there, so a central difference of step h is off by h / eps relative: eps 50 keeps that at 2e-7, within the
        // check's 1e-6 (features up to 20 keep the gradient well away from 0).
        const int batch = 4, dim = 5;
        const double eps = 50;
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * dim, 20));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * dim, 20));
        Array.Clear(student, 2 * dim, dim);

        (_, double[] gradient, _) = ProbabilisticKnowledgeTransferReference.Compute(student, batch, dim, teacher, dim, eps);
        Assert.That(gradient.AsSpan(2 * dim, dim).ToArray(), Has.Some.Not.EqualTo(0), "the zero example still gets a gradient");
        FiniteDifferences.AssertGradient(
            s => ProbabilisticKnowledgeTransferReference.Compute(s, batch, dim, teacher, dim, eps).Loss, student, gradient);
    }

    [Test]
    public void ProbabilitiesAreRowStochasticAndTheLossVanishesOnlyForMatchingSimilarities()
    {
        const int batch = 5, dim = 4;
        Random random = RandomData.NewRandom();
        double[] x = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * dim, 3));
        double[] other = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * 7, 3));
        (double[] p, _) = ProbabilisticKnowledgeTransferReference.Probabilities(
            ProbabilisticKnowledgeTransferReference.Unit(x, batch, dim, 1e-7).Unit, batch, dim);
        // Rotating every example by one orthogonal map (here a coordinate permutation) keeps all cosines.
        double[] permuted = new double[x.Length];
        for (int i = 0; i < batch; i++)
            for (int d = 0; d < dim; d++) permuted[i * dim + d] = x[i * dim + (d + 1) % dim];

        Assert.Multiple(() =>
        {
            for (int i = 0; i < batch; i++)
            {
                Assert.That(p.AsSpan(i * batch, batch).ToArray().Sum(), Is.EqualTo(1).Within(1e-14), $"row {i}");
                Assert.That(p.AsSpan(i * batch, batch).ToArray(), Is.All.GreaterThanOrEqualTo(0), $"row {i}");
            }
            Assert.That(ProbabilisticKnowledgeTransferReference.Compute(permuted, batch, dim, x, dim).Loss, Is.EqualTo(0).Within(1e-15));
            Assert.That(ProbabilisticKnowledgeTransferReference.Compute(x, batch, dim, other, 7).Loss, Is.GreaterThan(1e-4));
        });
    }

    [Test]
    public void ABatchOfOneHasZeroLossAndGradient()
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, 6, 2));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, 3, 2));
        (double loss, double[] gradient, _) = ProbabilisticKnowledgeTransferReference.Compute(s, 1, 6, t, 3);
        Assert.Multiple(() =>
        {
            Assert.That(loss, Is.EqualTo(0));
            Assert.That(gradient, Is.All.EqualTo(0).Within(1e-15));
        });
    }
}
