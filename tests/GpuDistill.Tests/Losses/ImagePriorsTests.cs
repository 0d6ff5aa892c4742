using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>DeepInversion's image priors against hand-computed values, their gradients, and their bad inputs.</summary>
public sealed class ImagePriorsTests
{
    // One 2x2 image [[1, 2], [3, 5]]: horizontal differences (-1, -2), vertical (-2, -3), the anti-diagonal 3 - 2 = 1,
    // the diagonal 1 - 5 = -4.
    private static Tensor Square(bool requiresGrad = false) =>
        tensor(new float[] { 1, 2, 3, 5 }, [1, 1, 2, 2]).requires_grad_(requiresGrad);

    [Test]
    public void TotalVariationL2IsTheSumOfTheDifferencesNorms()
    {
        using var scope = NewDisposeScope();
        double expected = Math.Sqrt(5) + Math.Sqrt(13) + 1 + 4;
        Assert.That(GpuDistill.Losses.TotalVariationL2(Square()).item<float>(), Is.EqualTo(expected).Within(1e-5));
    }

    [Test]
    public void TotalVariationL1IsTheSumOfTheMeanAbsoluteDifferences()
    {
        using var scope = NewDisposeScope();
        Assert.That(GpuDistill.Losses.TotalVariationL1(Square()).item<float>(), Is.EqualTo(1.5 + 2.5 + 1 + 4).Within(1e-6));
    }

    [Test]
    public void TotalVariationL2GradientIsHandComputed()
    {
        // d/dx of ||d|| is d / ||d|| pushed back through each difference: for x00 = 1, -1/sqrt5 (horizontal),
        // -2/sqrt13 (vertical), -4/4 (diagonal) = -(1/sqrt5 + 2/sqrt13 + 1).
        using var scope = NewDisposeScope();
        Tensor x = Square(requiresGrad: true);
        GpuDistill.Losses.TotalVariationL2(x).backward();
        Assert.That(x.grad![0, 0, 0, 0].item<float>(), Is.EqualTo(-(1 / Math.Sqrt(5) + 2 / Math.Sqrt(13) + 1)).Within(1e-5));
    }

    [Test]
    public void FlatImagesHaveNoVariationAndAFiniteGradient()
    {
        using var scope = NewDisposeScope();
        Tensor x = full(3, 2, 5, 4, 0.7f).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.TotalVariationL2(x) + GpuDistill.Losses.TotalVariationL1(x);
        loss.backward();
        Assert.That(loss.item<float>(), Is.Zero);
        Assert.That(x.grad!.isfinite().all().item<bool>(), Is.True);
    }

    [Test]
    public void ImageL2PriorIsTheMeanImageNorm()
    {
        // Images (3, 4) and (0, 0): norms 5 and 0, mean 2.5; the zero image gets gradient 0, the other (3, 4)/5/2.
        using var scope = NewDisposeScope();
        Tensor x = tensor(new float[] { 3, 4, 0, 0 }, [2, 1, 1, 2]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ImageL2Prior(x);
        loss.backward();
        Assert.That(loss.item<float>(), Is.EqualTo(2.5).Within(1e-6));
        Assert.That(TensorData.ToArray(x.grad!), Is.EqualTo(new[] { 0.3f, 0.4f, 0f, 0f }).Within(1e-6));
    }

    [Test] public void TotalVariationNeedsRankFour() => ArgumentAssert.Rejects(() => GpuDistill.Losses.TotalVariationL2(randn(2, 4, 4)), "images", "rank 4");
    [Test] public void TotalVariationNeedsNeighbours() => ArgumentAssert.Rejects(() => GpuDistill.Losses.TotalVariationL1(randn(2, 1, 1, 4)), "images", "2x2");
    [Test] public void PriorsNeedFloat32() => ArgumentAssert.Rejects(() => GpuDistill.Losses.ImageL2Prior(randn(2, 1, 4, 4, ScalarType.Float64)), "images", "float32");
    [Test] public void PriorsRejectEmptyBatches() => ArgumentAssert.Rejects(() => GpuDistill.Losses.ImageL2Prior(zeros(0, 1, 4, 4)), "images", "empty");
}
