using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The multi-teacher reference checked on its own: its gradient by finite differences, and its values against
/// independent forms (one teacher is Hinton KD; identical teachers are one teacher; weights are normalised).
/// </summary>
public sealed class MultiTeacherKDReferenceTests
{
    [TestCase(1, 1, 1, 1.0, false)]
    [TestCase(3, 7, 2, 0.5, false)]
    [TestCase(4, 5, 3, 4.0, true)]
    [TestCase(2, 11, 5, 20.0, true)]
    public void GradientMatchesFiniteDifferences(int rows, int classes, int teacherCount, double temperature, bool confidence)
    {
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, rows * classes, 3));
        float[] teachers = RandomData.Uniform(random, (long)teacherCount * rows * classes, 3);
        double[]? weights = confidence ? null : Enumerable.Range(0, teacherCount).Select(_ => 0.1 + random.NextDouble()).ToArray();
        int[]? labels = confidence ? RandomData.Labels(random, rows, classes, ignoreIndex: null) : null;

        (_, double[] gradient) = MultiTeacherKDReference.Compute(student, teachers, rows, classes, teacherCount,
            temperature, weights, labels);
        FiniteDifferences.AssertGradient(
            x => MultiTeacherKDReference.Compute(x, teachers, rows, classes, teacherCount, temperature, weights, labels).Loss,
            student, gradient);
    }

    [Test]
    public void OneTeacherIsHintonKD([Values(0.5, 4.0)] double temperature, [Values] bool confidence)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 6 * 9, 4);
        float[] t = RandomData.Uniform(random, 6 * 9, 4);
        int[] labels = RandomData.Labels(random, 6, 9, ignoreIndex: null);
        (double loss, double[] gradient) = MultiTeacherKDReference.Compute(s, t, 6, 9, 1, temperature,
            confidence ? null : [0.3], confidence ? labels : null);
        (double expectedLoss, double[] expectedGradient) = SoftmaxKLReference.Compute(s, t, 6, 9, temperature);
        Assert.That(loss, Is.EqualTo(expectedLoss).Within(1e-12 + 1e-10 * expectedLoss));
        Assert.That(gradient, Is.EqualTo(expectedGradient).AsCollection.Within(1e-12));
    }

    [Test]
    public void IdenticalTeachersAreOneTeacher()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 4 * 6, 4);
        float[] t = RandomData.Uniform(random, 4 * 6, 4);
        float[] three = [.. t, .. t, .. t];
        int[] labels = RandomData.Labels(random, 4, 6, ignoreIndex: null);
        (double expected, _) = SoftmaxKLReference.Compute(s, t, 4, 6, 2.0);
        Assert.That(MultiTeacherKDReference.Compute(s, three, 4, 6, 3, 2.0, [1, 5, 2], null).Loss,
            Is.EqualTo(expected).Within(1e-10 * expected));
        Assert.That(MultiTeacherKDReference.Compute(s, three, 4, 6, 3, 2.0, null, labels).Loss,
            Is.EqualTo(expected).Within(1e-10 * expected));
    }

    [Test]
    public void MixtureIsTheWeightedAverageOfTheTeachers()
    {
        // Two teachers, one row, two classes: q written out by hand from the softmaxes.
        float[] s = [0.5f, -0.25f];
        float[] t = [1f, 0f, -2f, 1f];
        double T = 2;
        double p1 = 1 / (1 + Math.Exp(-0.5)), p2 = 1 / (1 + Math.Exp(1.5));
        double q0 = 0.25 * p1 + 0.75 * p2;
        double ps = 1 / (1 + Math.Exp(-0.375));
        double expected = T * T * (q0 * Math.Log(q0 / ps) + (1 - q0) * Math.Log((1 - q0) / (1 - ps)));
        (double loss, double[] gradient) = MultiTeacherKDReference.Compute(s, t, 1, 2, 2, T, [1, 3], null);
        Assert.That(loss, Is.EqualTo(expected).Within(1e-14));
        Assert.That(gradient[0], Is.EqualTo(T * (ps - q0)).Within(1e-14));

        // Confidence weights with label 1: p_k(1) at T = 1.
        double c1 = 1 / (1 + Math.Exp(1)), c2 = 1 / (1 + Math.Exp(-3));
        double w1 = c1 / (c1 + c2);
        Assert.That(MultiTeacherKDReference.LogWeights(t, 1, 2, 2, 0, null, [1])[0], Is.EqualTo(Math.Log(w1)).Within(1e-14));
    }
}
