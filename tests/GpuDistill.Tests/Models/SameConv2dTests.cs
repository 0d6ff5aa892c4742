using GpuDistill.Interop;
using GpuDistill.Models;
using GpuDistill.Tests.Data;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>
/// <see cref="SameConv2d"/>, whose gradients are forward convolutions, against libtorch's own convolution and its
/// autograd (oneDNN off, the finite-difference-checked reference of ConvolutionGradientTests): output, input and
/// weight gradients under an upstream gradient that is not 1, over repeated passes, for the first-layer (unfolded)
/// and the convolution form of the weight gradient, odd and rectangular kernels, a batch of one, and the channel and
/// batch counts for which oneDNN's own convolution is wrong on this project's machine (so they must not reach it).
/// </summary>
public sealed class SameConv2dTests
{
    [TestCase(1, 1, 8, 28, 28, 3, 3)]     // a first layer: the weight gradient as one matrix product
    [TestCase(5, 32, 16, 14, 14, 3, 3)]   // the convolution form
    [TestCase(3, 7, 5, 9, 11, 1, 5)]      // rectangular kernel, odd sizes
    [TestCase(2, 4, 6, 6, 5, 5, 1)]
    [TestCase(1, 16, 3, 1, 1, 3, 3)]      // 1 x 1 images: the kernel sees padding only but its centre
    [TestCase(4, 3, 2, 7, 7, 1, 1)]
    [TestCase(20, 8, 8, 14, 14, 3, 3)]    // batch 20: the weight gradient's convolution would have 20 input channels
    [TestCase(3, 20, 24, 7, 7, 3, 3)]     // 20 input channels forward, 24 in the input gradient's convolution
    [TestCase(16, 17, 33, 5, 6, 5, 7)]
    [TestCase(32, 48, 16, 7, 7, 3, 3)]    // multiples of 16: oneDNN runs all three
    public void OutputAndGradientsMatchLibtorchsConvolution(int batch, int inChannels, int outChannels, int height, int width, int kh, int kw)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        using var layer = new SameConv2d(inChannels, outChannels, (kh, kw));
        float[] kernel = RandomData.Uniform(random, outChannels * inChannels * kh * kw, 0.5);
        using (no_grad()) layer.weight.copy_(tensor(kernel, [outChannels, inChannels, kh, kw]));
        float[] pixels = RandomData.Uniform(random, batch * inChannels * height * width, 2);
        Tensor upstream = tensor(RandomData.Uniform(random, batch * outChannels * height * width, 1.5), [batch, outChannels, height, width]);

        Tensor referenceInput = tensor(pixels, [batch, inChannels, height, width]).requires_grad_(true);
        Tensor referenceWeight = tensor(kernel, [outChannels, inChannels, kh, kw]).requires_grad_(true);
        Tensor expected = nn.functional.conv2d(referenceInput, referenceWeight, padding: [kh / 2, kw / 2]);
        (expected * upstream).sum().mul(2.5).backward();

        for (int pass = 0; pass < 3; pass++)
        {
            layer.zero_grad();
            Tensor input = tensor(pixels, [batch, inChannels, height, width]).requires_grad_(true);
            Tensor output = layer.call(input);
            (output * upstream).sum().mul(2.5).backward();
            Assert.Multiple(() =>
            {
                AssertClose(output, expected, $"pass {pass}: output");
                AssertClose(input.grad!, referenceInput.grad!, $"pass {pass}: input gradient");
                AssertClose(layer.weight.grad!, referenceWeight.grad!, $"pass {pass}: weight gradient");
            });
        }
        Assert.That(TorchBackends.MkldnnEnabled, Is.False, "oneDNN is off again after the passes");
    }

    [Test]
    public void AnInputWithoutGradientGetsNoneAndTheWeightStillLearns()
    {
        using var scope = NewDisposeScope();
        using var layer = new SameConv2d(2, 3, (3, 3));
        using (no_grad()) layer.weight.copy_(ones(3, 2, 3, 3));
        Tensor input = ones(1, 2, 4, 4);
        layer.call(input).sum().backward();
        Assert.That(input.grad, Is.Null);
        // Each weight sums its input channel over the pixels its tap reaches: 16 at the centre, 9 at a corner.
        Assert.That(layer.weight.grad![0, 0, 1, 1].item<float>(), Is.EqualTo(16f));
        Assert.That(layer.weight.grad![2, 1, 0, 0].item<float>(), Is.EqualTo(9f));
    }

    [Test]
    public void ItsStateKeyIsConv2dsAndCheckpointsUnderTheOldKeyStillLoad()
    {
        using var same = new SameConv2d(3, 4, (3, 3));
        using var conv = nn.Conv2d(3, 4, 3, padding: 1, bias: false);
        Assert.That(same.state_dict().Keys, Is.EqualTo(conv.state_dict().Keys), "the key of Conv2d's weight");

        using var directory = new TempDirectory();
        // A Conv2d's file loads into SameConv2d, and so does a file written under the key SameConv2d had before
        // (its property's backing field, "<weight>k__BackingField").
        string convFile = Path.Combine(directory.Path, "conv.pt"), legacyFile = Path.Combine(directory.Path, "legacy.pt");
        Checkpoint.SaveAtomic(conv, convFile);
        using Tensor legacyWeight = randn(4, 3, 3, 3);
        using (var legacy = new LegacyKeyModule(legacyWeight.clone()))
            Checkpoint.SaveAtomic(legacy, legacyFile);
        Assert.That(Checkpoint.TryLoad(same, convFile), Is.True);
        Assert.That(same.weight.eq(conv.weight!).all().item<bool>(), Is.True, "Conv2d's weight");
        Assert.That(Checkpoint.TryLoad(same, legacyFile), Is.True);
        Assert.That(same.weight.eq(legacyWeight).all().item<bool>(), Is.True, "the weight saved under the old key");
        using var wrongShape = new SameConv2d(3, 5, (3, 3));
        Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(wrongShape, legacyFile));
    }

    /// <summary>A module whose one parameter has the key SameConv2d's weight had before it was registered by name.</summary>
    private sealed class LegacyKeyModule : nn.Module
    {
        public LegacyKeyModule(Tensor weight) : base("legacy") =>
            register_parameter("<weight>k__BackingField", new TorchSharp.Modules.Parameter(weight));
    }

    [Test]
    public void BadInputNamesItselfAndTheExpectedShape()
    {
        using var scope = NewDisposeScope();
        using var layer = new SameConv2d(2, 3, (3, 3));
        ArgumentException e = Assert.Throws<ArgumentException>(() => layer.call(zeros(1, 3, 5, 5)))!;
        Assert.That(e.Message, Does.Contain("input").And.Contain("[B, 2, H, W]").And.Contain("[1, 3, 5, 5]"));
        Assert.Throws<ArgumentException>(() => layer.call(zeros(2, 5, 5)));
        Assert.Throws<ArgumentException>(() => layer.call(zeros([1, 2, 5, 5], ScalarType.Float64)));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SameConv2d(2, 3, (2, 3)));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SameConv2d(0, 3, (3, 3)));
    }

    private static void AssertClose(Tensor actual, Tensor expected, string what)
    {
        float[] a = TensorData.ToArray(actual.detach()), e = TensorData.ToArray(expected.detach());
        Assert.That(a, Has.Length.EqualTo(e.Length), what);
        double scale = e.Max(v => Math.Abs((double)v)) + 1e-6;
        for (int i = 0; i < a.Length; i++)
            Assert.That(Math.Abs(a[i] - e[i]), Is.LessThanOrEqualTo(2e-5 * scale), $"{what}, element {i}: {a[i]} vs {e[i]}");
    }
}
