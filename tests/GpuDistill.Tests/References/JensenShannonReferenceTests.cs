using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The JSD reference: its gradient (loss-spec 1.3's formula with the T^2 scaling) against central finite
/// differences of its own loss, at every beta the kernels are tested with, and the divergence's known properties.
/// </summary>
public sealed class JensenShannonReferenceTests
{
    [Test, Combinatorial]
    public void GradientMatchesFiniteDifferences(
        [Values(0.0, 0.1, 0.5, 0.9, 1.0)] double beta,
        [Values(0.5, 4.0)] double temperature,
        [Values(false, true)] bool withLabels)
    {
        const int rows = 4, classes = 7;
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        if (labels is not null) labels[0] = 0;

        (_, double[] gradient) = JensenShannonReference.Compute(student, teacher, rows, classes, temperature, beta, labels);
        FiniteDifferences.AssertGradient(
            s => JensenShannonReference.Compute(s, teacher, rows, classes, temperature, beta, labels).Loss, student, gradient);
    }

    [Test]
    public void SymmetricAtOneHalfAndBoundedByTheBinaryEntropy()
    {
        Random random = RandomData.NewRandom();
        double[] a = ReferenceMath.ToDouble(RandomData.Uniform(random, 5 * 9, 6));
        double[] b = ReferenceMath.ToDouble(RandomData.Uniform(random, 5 * 9, 6));
        const double t = 1.5;
        double ab = JensenShannonReference.Compute(a, b, 5, 9, t, 0.5).Loss;
        double ba = JensenShannonReference.Compute(b, a, 5, 9, t, 0.5).Loss;
        Assert.Multiple(() =>
        {
            Assert.That(ab, Is.EqualTo(ba).Within(1e-12));
            foreach (double beta in new[] { 0.1, 0.5, 0.9 })
            {
                double entropy = -beta * Math.Log(beta) - (1 - beta) * Math.Log(1 - beta);
                double loss = JensenShannonReference.Compute(a, b, 5, 9, t, beta).Loss;
                Assert.That(loss, Is.GreaterThan(0).And.LessThanOrEqualTo(t * t * entropy), $"beta {beta}");
            }
        });
    }

    [Test]
    public void EndpointsAreTheForwardAndReverseKL()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 3 * 8, 4);
        float[] t = RandomData.Uniform(random, 3 * 8, 4);
        Assert.Multiple(() =>
        {
            Assert.That(JensenShannonReference.Compute(s, t, 3, 8, 2.0, 0.0).Loss,
                Is.EqualTo(SoftmaxKLReference.Compute(s, t, 3, 8, 2.0).Loss).Within(1e-12));
            Assert.That(JensenShannonReference.Compute(s, t, 3, 8, 2.0, 1.0).Loss,
                Is.EqualTo(ReverseKLReference.Compute(s, t, 3, 8, 2.0).Loss).Within(1e-12));
        });
    }
}
