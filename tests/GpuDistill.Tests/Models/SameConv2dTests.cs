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
/// batch counts for which oneDNN's own convolution is wrong on this project's machine (so they must not reach it);
/// and grouped convolutions (depthwise, a channel multiplier, groups of several channels) against libtorch's grouped
/// convolution in float64.
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
    [TestCase(5, 72, 72, 7, 7, 3, 3, 72)] // depthwise, 72 channels: oneDNN may not run it
    [TestCase(3, 16, 16, 14, 14, 3, 3, 16)] // depthwise, 16 channels: oneDNN runs it
    [TestCase(2, 48, 48, 7, 7, 5, 5, 48)] // depthwise, a multiple of 16, 5x5
    [TestCase(1, 1, 1, 1, 1, 1, 1, 1)]    // 1 x 1 everything
    [TestCase(4, 6, 12, 9, 11, 3, 5, 6)]  // depthwise with a channel multiplier of 2, rectangular kernel
    [TestCase(3, 8, 12, 6, 5, 3, 3, 4)]   // four groups of 2 input and 3 output channels
    [TestCase(41, 24, 24, 5, 5, 3, 3, 24)] // a batch of 41
    public void OutputAndGradientsMatchLibtorchsConvolution(int batch, int inChannels, int outChannels, int height, int width, int kh, int kw,
        int groups = 1)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        using var layer = new SameConv2d(inChannels, outChannels, (kh, kw), groups);
        int perGroup = inChannels / groups;
        float[] kernel = RandomData.Uniform(random, outChannels * perGroup * kh * kw, 0.5);
        using (no_grad()) layer.weight.copy_(tensor(kernel, [outChannels, perGroup, kh, kw]));
        float[] pixels = RandomData.Uniform(random, batch * inChannels * height * width, 2);
        Tensor upstream = tensor(RandomData.Uniform(random, batch * outChannels * height * width, 1.5), [batch, outChannels, height, width]);

        // The reference is libtorch's own convolution in float64 (oneDNN never runs in float64).
        Tensor referenceInput = tensor(pixels, [batch, inChannels, height, width]).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor referenceWeight = tensor(kernel, [outChannels, perGroup, kh, kw]).to_type(ScalarType.Float64).requires_grad_(true);
        Tensor expected = nn.functional.conv2d(referenceInput, referenceWeight, padding: [kh / 2, kw / 2], groups: groups);
        (expected * upstream.to_type(ScalarType.Float64)).sum().mul(2.5).backward();

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

        ArgumentOutOfRangeException groups = Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SameConv2d(6, 4, (3, 3), groups: 3))!;
        Assert.That(groups.ParamName, Is.EqualTo("groups"));
        Assert.That(groups.Message, Does.Contain("6 in, 4 out"));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new SameConv2d(6, 6, (3, 3), groups: 0));
        using var depthwise = new SameConv2d(6, 6, (3, 3), groups: 6);
        Assert.That((depthwise.InChannels, depthwise.Groups, depthwise.weight.shape), Is.EqualTo((6L, 6L, new long[] { 6, 1, 3, 3 })));
        ArgumentException channels = Assert.Throws<ArgumentException>(() => depthwise.call(zeros(1, 1, 5, 5)))!;
        Assert.That(channels.Message, Does.Contain("[B, 6, H, W]"));
        Assert.Throws<ArgumentException>(() => SameConv2d.Convolve(zeros(1, 6, 5, 5), zeros(4, 1, 3, 3), "input", groups: 6));
    }

    private static void AssertClose(Tensor actual, Tensor expected, string what)
    {
        float[] a = TensorData.ToArray(actual.detach()), e = TensorData.ToArray(expected.detach().to_type(ScalarType.Float32));
        Assert.That(a, Has.Length.EqualTo(e.Length), what);
        double scale = e.Max(v => Math.Abs((double)v)) + 1e-6;
        for (int i = 0; i < a.Length; i++)
            Assert.That(Math.Abs(a[i] - e[i]), Is.LessThanOrEqualTo(2e-5 * scale), $"{what}, element {i}: {a[i]} vs {e[i]}");
    }
}
