using GpuDistill.Deployment;
using GpuDistill.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Tests.Deployment;

/// <summary>
/// Every layer type the exporter knows, alone or in a small stack, with random weights: ONNX Runtime's output on
/// random inputs against TorchSharp's in evaluation mode, with graph optimisations off and on. Unknown layers throw.
/// </summary>
public sealed class OnnxLayerExportTests
{
    /// <summary>Float32 convolutions and GEMMs summed in another order: ~1e-6 of the output's scale.</summary>
    private const double Bound = 1e-5;

    public static IEnumerable<TestCaseData> Layers()
    {
        yield return Case("Conv2d 3x3 pad 1, no bias", () => Conv2d(3, 8, 3, padding: 1, bias: false), [3, 9, 11]);
        yield return Case("Conv2d 5x5 stride 2 with bias", () => Conv2d(2, 4, 5, stride: 2, padding: 2), [2, 13, 12]);
        yield return Case("Conv2d dilation 2, groups 2", () => Conv2d(4, 6, 3, dilation: 2, groups: 2), [4, 10, 10]);
        yield return Case("Conv2d padding same (even kernel)", () => Conv2d(3, 5, 4, Padding.Same, bias: true), [3, 7, 9]);
        yield return Case("SameConv2d 3x5 (the library's CNN convolution)", () => RandomKernel(new SameConv2d(3, 4, (3, 5))), [3, 9, 11]);
        yield return Case("Linear", () => Linear(17, 5), [17]);
        yield return Case("Linear without bias", () => Linear(6, 3, hasBias: false), [6]);
        yield return Case("BatchNormalization2d", () => TrainedBatchNorm(new BatchNormalization2d(4)), [4, 5, 6]);
        yield return Case("BatchNorm2d (TorchSharp)", () => TrainedBatchNorm(BatchNorm2d(3)), [3, 4, 4]);
        yield return Case("ReLU", () => ReLU(), [3, 4, 5]);
        yield return Case("ReLU in place", () => ReLU(inplace: true), [7]);
        yield return Case("MaxPool2d 2", () => MaxPool2d(2), [3, 8, 8]);
        yield return Case("MaxPool2d 3 stride 2 pad 1 on odd size", () => MaxPool2d(3, 2, 1), [2, 7, 9]);
        yield return Case("MaxPool2d ceil mode", () => MaxPool2d(2, ceil_mode: true), [2, 7, 7]);
        yield return Case("AvgPool2d 2", () => AvgPool2d(2), [3, 8, 6]);
        yield return Case("AvgPool2d pad 1 without padding in the count", () => AvgPool2d(3, 1, 1, count_include_pad: false), [2, 5, 5]);
        yield return Case("AdaptiveAvgPool2d(1)", () => AdaptiveAvgPool2d(1), [5, 7, 3]);
        yield return Case("Flatten", () => Flatten(), [3, 4, 5]);
        yield return Case("Dropout (identity in evaluation)", () => Dropout(0.5), [9]);
        yield return Case("Identity", () => Identity(), [2, 3]);
        yield return Case("Nested Sequential stack", () => Sequential(
            Sequential(Conv2d(1, 4, 3, padding: 1), new BatchNormalization2d(4), ReLU(), MaxPool2d(2)),
            AdaptiveAvgPool2d(1), Flatten(), Dropout(0.3), Linear(4, 10)), [1, 28, 28]);
    }

    [TestCaseSource(nameof(Layers))]
    public void RoundTripsThroughOnnxRuntime(Func<Module<Tensor, Tensor>> make, long[] inputShape)
    {
        string path = OnnxTestFiles.NewPath();
        try
        {
            using Module<Tensor, Tensor> module = make();
            module.eval();
            using var scope = NewDisposeScope();
            var generator = new Generator(17);
            Tensor input = randn([3, .. inputShape], generator: generator);
            Tensor expected;
            using (no_grad()) expected = module.call(input.clone());
            Export.ToOnnx(module, inputShape, expected.shape[1..], path);

            foreach (bool optimize in new[] { false, true })
            {
                Tensor actual = OnnxTestFiles.RunOnnx(path, input, optimize);
                Assert.That(OnnxTestFiles.RelativeMaxError(actual, expected), Is.LessThan(Bound), $"optimize {optimize}");
            }
            // The batch dimension is symbolic: one image works as well.
            Tensor single = OnnxTestFiles.RunOnnx(path, input[..1]);
            Assert.That(OnnxTestFiles.RelativeMaxError(single, expected[..1]), Is.LessThan(Bound), "batch 1");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void UnknownLayerIsNamedByPathAndType()
    {
        using Module<Tensor, Tensor> module = Sequential(Conv2d(1, 2, 3), Sequential(ReLU(), Tanh()));
        string path = OnnxTestFiles.NewPath();
        var ex = Assert.Throws<NotSupportedException>(() => Export.ToOnnx(module, [1, 8, 8], [2, 6, 6], path));
        Assert.That(ex!.Message, Does.Contain("'1.1'").And.Contain("Tanh"));
        Assert.That(File.Exists(path), Is.False, "nothing is written");
    }

    [Test]
    public void UnsupportedSettingsAreNamed()
    {
        using Module<Tensor, Tensor> reflect = Sequential(Conv2d(1, 2, 3, padding: 1, padding_mode: PaddingModes.Reflect));
        var ex = Assert.Throws<NotSupportedException>(() => Export.ToOnnx(reflect, [1, 8, 8], [2, 8, 8], OnnxTestFiles.NewPath()));
        Assert.That(ex!.Message, Does.Contain("'0'").And.Contain("Conv2d").And.Contain("Reflect"));
        using Module<Tensor, Tensor> partial = Sequential(Flatten(0, 1));
        ex = Assert.Throws<NotSupportedException>(() => Export.ToOnnx(partial, [3, 4], [3, 4], OnnxTestFiles.NewPath()));
        Assert.That(ex!.Message, Does.Contain("Flatten"));
    }

    private static SameConv2d RandomKernel(SameConv2d layer)
    {
        using (torch.no_grad()) init.uniform_(layer.weight, -0.5, 0.5);
        return layer;
    }

    private static TestCaseData Case(string name, Func<Module<Tensor, Tensor>> make, long[] inputShape) =>
        new TestCaseData(make, inputShape).SetArgDisplayNames(name);

    /// <summary>A batch norm whose running statistics and affine parameters are not the identity's.</summary>
    private static Module<Tensor, Tensor> TrainedBatchNorm(Module<Tensor, Tensor> bn)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(3);
        bn.train();
        for (int i = 0; i < 3; i++) bn.call(randn([8, ChannelsOf(bn), 5, 5], generator: generator).mul(2).add(1));
        using (no_grad())
        {
            foreach (var p in bn.parameters()) p.copy_(rand(p.shape, generator: generator).add(0.5));
        }
        return bn;
    }

    private static long ChannelsOf(Module<Tensor, Tensor> bn) => bn switch
    {
        BatchNormalization2d b => b.Features,
        TorchSharp.Modules.BatchNorm2d b => b.num_features,
        _ => throw new ArgumentException("not a batch norm", nameof(bn)),
    };
}
