using GpuDistill.Tests.Generic;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Tests.Models;

/// <summary>
/// Gradients back through convolutions are right and repeatable: the generator and data-free methods learn through
/// a frozen teacher's input gradient. Guards <see cref="OneDnnOff"/>: with oneDNN on, on this
/// project's machine, these passes came out NaN or tens of percent off about every other time.
/// </summary>
public sealed class ConvolutionGradientTests
{
    [Test]
    public void OneDnnIsOffForTheTestRun() => Assert.That(GpuDistill.Interop.TorchBackends.MkldnnEnabled, Is.False);

    [Test]
    public void NnpackIsOffOnceAModelIsBuilt()
    {
        // NNPACK does not start on this project's CPUs and warns on every convolution offered to it.
        using var model = GpuDistill.Models.ModelFactory.Create("small-cnn", 1);
        Assert.That(GpuDistill.Interop.TorchBackends.NnpackEnabled, Is.False);
    }

    [Test]
    public void InputGradientThroughTwoConvolutionsIsRepeatableAndMatchesFiniteDifferences()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        manual_seed(random.Next());
        using var model = Sequential(Conv2d(1, 8, 3, padding: 1, bias: false), Conv2d(8, 8, 3, padding: 1, bias: false));
        foreach (var p in model.parameters()) p.requires_grad_(false);
        float[] pixels = RandomData.Uniform(random, 3 * 28 * 28, 1.5);

        float[] Gradient()
        {
            Tensor images = tensor(pixels, [3, 1, 28, 28]).requires_grad_(true);
            model.call(images).square().sum().backward();
            return TensorData.ToArray(images.grad!);
        }
        double Loss(float[] values)
        {
            using var inner = NewDisposeScope();
            using var noGrad = no_grad();
            return model.call(tensor(values, [3, 1, 28, 28])).to_type(ScalarType.Float64).square().sum().item<double>();
        }

        float[][] runs = [.. Enumerable.Range(0, 4).Select(_ => Gradient())];
        Assert.That(runs.Skip(1), Is.All.EqualTo(runs[0]), "every backward pass gives the same gradient");
        // The loss is quadratic in the pixels, so a central difference with a large step is exact up to rounding.
        foreach (int k in new[] { 0, 1, 400, 2351 })
        {
            float[] plus = (float[])pixels.Clone(), minus = (float[])pixels.Clone();
            plus[k] += 0.25f;
            minus[k] -= 0.25f;
            Assert.That(runs[0][k], Is.EqualTo((Loss(plus) - Loss(minus)) / 0.5).Within(0.1).Percent, $"pixel {k}");
        }
    }
}
