using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The reference's gradient is checked by central finite differences, so the kernel tests rest on it.</summary>
public sealed class SoftmaxKLReferenceTests
{
    [TestCase(1, 1, 1.0, false)]
    [TestCase(3, 7, 0.5, false)]
    [TestCase(4, 5, 4.0, true)]
    [TestCase(5, 11, 20.0, true)]
    public void GradientMatchesFiniteDifferences(int rows, int classes, double temperature, bool withLabels)
    {
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, rows * classes, 3);
        float[] teacher = RandomData.Uniform(random, rows * classes, 3);
        int[]? labels = withLabels ? RandomData.Labels(random, rows, classes, ignoreIndex: -100) : null;
        if (labels is not null) labels[0] = 0; // keep at least one counted row

        (_, double[] gradient) = SoftmaxKLReference.Compute(student, teacher, rows, classes, temperature, labels, 0.7, 0.3);
        // Float logits limit the step: perturb in float64 through a copy of the row evaluated by LossAt.
        for (int k = 0; k < student.Length; k++)
        {
            double h = 1e-3 * Math.Max(1, Math.Abs(student[k]));
            double numeric = (LossAt(k, +h) - LossAt(k, -h)) / (2 * h);
            Assert.That(gradient[k], Is.EqualTo(numeric).Within(1e-6 + 1e-4 * Math.Abs(numeric)), $"element {k}");
        }

        double LossAt(int k, double delta) =>
            SoftmaxKLReferenceDouble(student, teacher, rows, classes, temperature, labels, k, delta);
    }

    /// <summary>The reference loss with one student logit moved by delta, all in float64.</summary>
    private static double SoftmaxKLReferenceDouble(float[] student, float[] teacher, int rows, int classes,
        double temperature, int[]? labels, int k, double delta)
    {
        int counted = labels?.Count(y => y != -100) ?? rows;
        double loss = 0;
        for (int i = 0; i < rows; i++)
        {
            if (labels is not null && labels[i] == -100) continue;
            var zs = new double[classes];
            var zt = new double[classes];
            for (int c = 0; c < classes; c++)
            {
                zs[c] = student[i * classes + c] + (i * classes + c == k ? delta : 0);
                zt[c] = teacher[i * classes + c];
            }
            double[] logQ = LogSoftmax(zs, temperature), logP = LogSoftmax(zt, temperature);
            double kl = 0;
            for (int c = 0; c < classes; c++) kl += Math.Exp(logP[c]) * (logP[c] - logQ[c]);
            loss += 0.7 * temperature * temperature / counted * kl;
            if (labels is not null) loss += 0.3 / counted * -LogSoftmax(zs, 1)[labels[i]];
        }
        return loss;
    }

    private static double[] LogSoftmax(double[] z, double temperature)
    {
        double max = z.Max() / temperature;
        double lse = max + Math.Log(z.Sum(v => Math.Exp(v / temperature - max)));
        return z.Select(v => v / temperature - lse).ToArray();
    }
}
