using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Adaptive DeepInversion's competition term against a float64 reference: value, both gradients, clamps, bad input.</summary>
public sealed class CompetitionLossTests
{
    /// <summary>1 - clamp(JS', 0, 1) in float64, written from loss-spec-2 7.2.</summary>
    private static double Reference(double[] student, double[] teacher, int rows, int classes, double temperature)
    {
        double js = 0;
        for (int i = 0; i < rows; i++)
        {
            double[] p = Softmax(student, i, classes, temperature), q = Softmax(teacher, i, classes, temperature);
            for (int c = 0; c < classes; c++)
            {
                double m = Clamp((p[c] + q[c]) / 2), pc = Clamp(p[c]), qc = Clamp(q[c]);
                js += (0.5 * m * (Math.Log(m) - Math.Log(pc))) + (0.5 * m * (Math.Log(m) - Math.Log(qc)));
            }
        }
        return 1 - Math.Clamp(js / rows, 0, 1);
    }

    private static double Clamp(double probability) => Math.Clamp(probability, 0.01, 0.99);

    private static double[] Softmax(double[] logits, int row, int classes, double temperature) =>
        Array.ConvertAll(ReferenceMath.LogSoftmax(logits.AsSpan(row * classes, classes), temperature), Math.Exp);

    [TestCase(1, 1)]
    [TestCase(3, 4)]
    [TestCase(41, 10)]
    [TestCase(2, 300)]
    public void ValueMatchesTheFloat64Reference(int rows, int classes)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, rows * classes, 6), t = RandomData.Uniform(random, rows * classes, 6);
        using var scope = NewDisposeScope();
        double expected = Reference(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t), rows, classes, 3);
        float actual = GpuDistill.Losses.Competition(tensor(s, [rows, classes]), tensor(t, [rows, classes])).item<float>();
        Assert.That(actual, Is.EqualTo(expected).Within(1e-5));
    }

    [Test]
    public void BothGradientsMatchTheReferencesFiniteDifferencesWithAnUpstreamGradientOf2Point5()
    {
        // Logits within +-3 at T = 3 keep every probability of 4 classes inside the clamps, where the term is smooth.
        Random random = RandomData.NewRandom();
        const int rows = 3, classes = 4;
        const double upstream = 2.5;
        float[] s = RandomData.Uniform(random, rows * classes, 3), t = RandomData.Uniform(random, rows * classes, 3);
        using var scope = NewDisposeScope();
        Tensor student = tensor(s, [rows, classes]).requires_grad_(true), teacher = tensor(t, [rows, classes]).requires_grad_(true);
        GpuDistill.Losses.Competition(student, teacher).mul(upstream).backward();

        double[] sd = ReferenceMath.ToDouble(s), td = ReferenceMath.ToDouble(t);
        float[] studentGradient = TensorData.ToArray(student.grad!), teacherGradient = TensorData.ToArray(teacher.grad!);
        for (int k = 0; k < rows * classes; k++)
        {
            Assert.That(studentGradient[k], Is.EqualTo(upstream * FiniteDifferences.Derivative(x => Reference(x, td, rows, classes, 3), sd, k)).Within(2e-5), $"student {k}");
            Assert.That(teacherGradient[k], Is.EqualTo(upstream * FiniteDifferences.Derivative(x => Reference(sd, x, rows, classes, 3), td, k)).Within(2e-5), $"teacher {k}");
        }
    }

    [Test]
    public void EqualOutputsScoreOneAndConfidentDisagreementScoresLess()
    {
        // Same logits: M = P = Q, JS' = 0, the term is 1 (nothing to compete for). Opposite confident rows: JS' > 0.
        using var scope = NewDisposeScope();
        Tensor a = tensor(new float[] { 9, 0, 0, 9 }, [2, 2]), b = tensor(new float[] { 0, 9, 9, 0 }, [2, 2]);
        Assert.That(GpuDistill.Losses.Competition(a, a).item<float>(), Is.EqualTo(1).Within(1e-6));
        Assert.That(GpuDistill.Losses.Competition(a, b).item<float>(), Is.LessThan(0.9f));
    }

    [Test]
    public void BadInputIsRejectedByName()
    {
        using var scope = NewDisposeScope();
        Tensor ok = zeros(2, 3);
        ArgumentAssert.Rejects(() => GpuDistill.Losses.Competition(ok, zeros(2, 4)), "teacher", "shape");
        ArgumentAssert.Rejects(() => GpuDistill.Losses.Competition(ok, ok, 0), "temperature", "temperature");
        ArgumentAssert.Rejects(() => GpuDistill.Losses.Competition(tensor(new[] { float.NaN, 0, 0, 0, 0, 0 }, [2, 3]), ok), "student", "finite");
    }
}
