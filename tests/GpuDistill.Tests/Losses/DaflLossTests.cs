using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>DAFL's generator losses against hand-computed values and the spec's derived gradient.</summary>
public sealed class DaflLossTests
{
    [Test]
    public void OneHotIsTheCrossEntropyToTheTeachersOwnArgmax()
    {
        // Rows (2, 0) and (0, 1): pseudo-labels 0 and 1, CE = (log(1 + e^-2) + log(1 + e^-1)) / 2.
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new float[] { 2, 0, 0, 1 }, [2, 2]);
        double expected = (Math.Log(1 + Math.Exp(-2)) + Math.Log(1 + Math.Exp(-1))) / 2;
        Assert.That(GpuDistill.Losses.DaflOneHot(logits).item<float>(), Is.EqualTo(expected).Within(1e-6));
    }

    [Test]
    public void OneHotGradientIgnoresThePseudoLabelsPath()
    {
        // dL/dy = (softmax(y) - onehot(argmax y)) / B: the argmax is taken on detached logits.
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new float[] { 2, 0, 0, 1 }, [2, 2]).requires_grad_(true);
        GpuDistill.Losses.DaflOneHot(logits).backward();
        double p = 1 / (1 + Math.Exp(-2)), r = 1 / (1 + Math.Exp(-1));
        Assert.That(TensorData.ToArray(logits.grad!), Is.EqualTo(new[] { (p - 1) / 2, (1 - p) / 2, (1 - r) / 2, (r - 1) / 2 }).Within(1e-6));
    }

    [Test]
    public void ActivationIsMinusTheMeanAbsoluteFeature()
    {
        using var scope = NewDisposeScope();
        Tensor features = tensor(new float[] { 1, -2, 3, 0 }, [2, 2]);
        Assert.That(GpuDistill.Losses.DaflActivation(features).item<float>(), Is.EqualTo(-1.5).Within(1e-6));
    }

    [Test]
    public void InformationEntropyOfAUniformBatchIsLog10OfOneOverC()
    {
        // Equal logits: pbar = (1/4, ..., 1/4), sum pbar log10 pbar = log10(1/4).
        using var scope = NewDisposeScope();
        Assert.That(GpuDistill.Losses.DaflInformationEntropy(zeros(3, 4)).item<float>(), Is.EqualTo(Math.Log10(0.25)).Within(1e-6));
    }

    [Test]
    public void InformationEntropyIsFiniteWhenAClassIsNeverPredicted()
    {
        // Logits of -200 underflow to probability 0 in float32; the 1e-12 floor keeps 0 * log10(0) from being NaN.
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new float[] { 0, -200, 0, -200 }, [2, 2]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.DaflInformationEntropy(logits);
        loss.backward();
        Assert.That(loss.item<float>(), Is.EqualTo(0).Within(1e-6));
        Assert.That(logits.grad!.isfinite().all().item<bool>(), Is.True);
    }

    [Test]
    public void InformationEntropyGradientIsTheDerivedOne()
    {
        // loss-spec-2 7.1: dL/dy_ij = P_ij (ln pbar_j - sum_k P_ik ln pbar_k) / (B ln 10).
        Random random = RandomData.NewRandom();
        const int rows = 5, classes = 4;
        float[] values = RandomData.Uniform(random, rows * classes, 3);
        using var scope = NewDisposeScope();
        Tensor logits = tensor(values, [rows, classes]).requires_grad_(true);
        GpuDistill.Losses.DaflInformationEntropy(logits).backward();

        double[,] p = new double[rows, classes];
        double[] mean = new double[classes];
        for (int i = 0; i < rows; i++)
        {
            double[] logP = ReferenceMath.LogSoftmax(ReferenceMath.ToDouble(values[(i * classes)..((i + 1) * classes)]), 1);
            for (int c = 0; c < classes; c++)
            {
                p[i, c] = Math.Exp(logP[c]);
                mean[c] += p[i, c] / rows;
            }
        }
        var expected = new double[rows * classes];
        for (int i = 0; i < rows; i++)
        {
            double average = Enumerable.Range(0, classes).Sum(k => p[i, k] * Math.Log(mean[k]));
            for (int c = 0; c < classes; c++)
                expected[i * classes + c] = p[i, c] * (Math.Log(mean[c]) - average) / (rows * Math.Log(10));
        }
        Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(logits.grad!), expected), Is.LessThan(1e-5));
    }

    [Test]
    public void GeneratorLossWeighsTheThreeTerms()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor logits = tensor(RandomData.Uniform(random, 6 * 10, 3), [6, 10]);
        Tensor features = tensor(RandomData.Uniform(random, 6 * 8, 2), [6, 8]);
        double expected = 0.5 * GpuDistill.Losses.DaflOneHot(logits).item<float>()
            + 5 * GpuDistill.Losses.DaflInformationEntropy(logits).item<float>()
            + 0.1 * GpuDistill.Losses.DaflActivation(features).item<float>();
        Assert.That(GpuDistill.Losses.DaflGenerator(logits, features, oneHot: 0.5).item<float>(), Is.EqualTo(expected).Within(1e-5));
    }

    [Test] public void LogitsMustBeRankTwo() => ArgumentAssert.Rejects(() => GpuDistill.Losses.DaflOneHot(randn(2, 3, 4)), "teacherLogits", "rank 2");
    [Test] public void WeightsMustBeNonNegative() => ArgumentAssert.Rejects(() => GpuDistill.Losses.DaflGenerator(randn(2, 3), randn(2, 4), activation: -1), "activation", ">= 0");
    [Test] public void BatchesMustMatch() => ArgumentAssert.Rejects(() => GpuDistill.Losses.DaflGenerator(randn(2, 3), randn(3, 4)), "features", "batch size");
}
