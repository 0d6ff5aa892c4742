using GpuDistill.Compute;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.BatchNormStatistics"/> through TorchSharp autograd: several layers' inputs get 2.5
/// times the float64 reference gradient from an upstream gradient of 2.5; and through a real teacher (a small CNN in
/// eval mode, BN inputs captured by <see cref="BatchNormInputCapture"/>) the images get the gradient libtorch finds
/// for the same loss written in TorchSharp ops.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class BatchNormStatisticsLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [TestCase(1, 1, 1, 1)]
    [TestCase(1, 5, 1, 1)]
    [TestCase(3, 4, 2, 3)]
    [TestCase(2, 130, 1, 1)]
    [TestCase(8, 16, 7, 7)]
    public void InputsGetReferenceGradientTimesUpstream(int batch, int channels, int height, int width)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        (int B, int C, int H, int W)[] shapes = [(batch, channels, height, width), (batch, 3, 2, 2)];
        var layers = new List<BatchNormStatisticsInput>();
        var reference = new List<BatchNormStatisticsReference.Layer>();
        foreach ((int b, int c, int h, int w) in shapes)
        {
            float[] x = RandomData.Uniform(random, b * c * h * w, 2);
            float[] mean = RandomData.Uniform(random, c, 1);
            float[] variance = [.. Enumerable.Range(0, c).Select(_ => (float)(0.2 + random.NextDouble()))];
            double weight = layers.Count == 0 ? 10 : 1;
            layers.Add(new BatchNormStatisticsInput(tensor(x, [b, c, h, w]).requires_grad_(true), tensor(mean), tensor(variance), weight));
            reference.Add(new BatchNormStatisticsReference.Layer(ReferenceMath.ToDouble(x), b, c, h * w,
                ReferenceMath.ToDouble(mean), ReferenceMath.ToDouble(variance), weight));
        }

        Tensor loss = GpuDistill.Losses.BatchNormStatistics(layers, Device);
        (loss * UpstreamGradient).backward();
        (double expectedLoss, double[][] expectedGradients) = BatchNormStatisticsReference.Compute(reference);

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty);
            Assert.That(loss.item<float>(), Is.EqualTo(expectedLoss).Within(1e-4).Percent);
            for (int l = 0; l < layers.Count; l++)
            {
                Assert.That(layers[l].Input.grad!.shape, Is.EqualTo(layers[l].Input.shape));
                Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(layers[l].Input.grad!),
                    [.. expectedGradients[l].Select(g => g * UpstreamGradient)]), Is.LessThan(Tolerance.Kernel), $"layer {l}");
            }
        });
    }

    [Test]
    public void ImagesGetTheCompositeGradientThroughATeacher()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        using var teacher = new SmallCnn(seed: 7);
        RandomiseRunningStatistics(teacher, random);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad_(false);
        using var capture = new BatchNormInputCapture(teacher);
        Assert.That(capture.LayerNames, Has.Count.EqualTo(6));

        float[] pixels = RandomData.Uniform(random, 3 * 28 * 28, 1.5);
        Tensor images = tensor(pixels, [3, 1, 28, 28]).requires_grad_(true);
        teacher.ForwardLogits(images);
        (UpstreamGradient * GpuDistill.Losses.BatchNormStatistics(capture.Layers(firstLayerWeight: 10), Device)).backward();
        float[] fused = TensorData.ToArray(images.grad!);
        capture.Clear();

        // The same loss in TorchSharp ops on the same captured inputs (widened to float64 inside the graph).
        Tensor images2 = tensor(pixels, [3, 1, 28, 28]).requires_grad_(true);
        teacher.ForwardLogits(images2);
        Tensor composite = zeros(1, ScalarType.Float64);
        foreach (BatchNormStatisticsInput layer in capture.Layers(firstLayerWeight: 10))
        {
            Tensor a = layer.Input.to_type(ScalarType.Float64);
            Tensor mu = a.mean([0, 2, 3]);
            Tensor var = (a - mu.view(1, -1, 1, 1)).square().mean([0, 2, 3]);
            composite = composite + layer.Weight * ((var - layer.RunningVariance.to_type(ScalarType.Float64)).norm()
                + (mu - layer.RunningMean.to_type(ScalarType.Float64)).norm());
        }
        (UpstreamGradient * composite).backward();
        capture.Clear();

        Assert.That(Tolerance.RelativeMaxError(fused, images2.grad!.to_type(ScalarType.Float64).data<double>().ToArray()),
            Is.LessThan(1e-4));
    }

    [Test]
    public void ATeacherWithoutBatchNormIsRejected()
    {
        using var mlp = new Mlp(seed: 1);
        ArgumentAssert.Rejects(() => new BatchNormInputCapture(mlp).Dispose(), "model", "no batch-norm layer");
    }

    [Test]
    public void ATeacherInTrainingModeIsRejected()
    {
        using var scope = NewDisposeScope();
        using var teacher = new SmallCnn(seed: 3);
        using var capture = new BatchNormInputCapture(teacher);
        teacher.train();
        teacher.ForwardLogits(randn(2, 1, 28, 28));
        Assert.That(() => capture.Layers(), Throws.InvalidOperationException.With.Message.Contains("eval()"));
        capture.Clear();
    }

    [Test]
    public void LayersBeforeAForwardPassAreRefused()
    {
        using var teacher = new SmallCnn(seed: 3);
        teacher.eval();
        using var capture = new BatchNormInputCapture(teacher);
        Assert.That(() => capture.Layers(), Throws.InvalidOperationException.With.Message.Contains("forward pass"));
    }

    private static void RandomiseRunningStatistics(SmallCnn model, Random random)
    {
        using var noGrad = no_grad();
        foreach (var bn in model.modules().OfType<BatchNormalization2d>())
        {
            int c = (int)bn.Features;
            bn.RunningMean.copy_(tensor(RandomData.Uniform(random, c, 0.5)));
            bn.RunningVariance.copy_(tensor(Enumerable.Range(0, c).Select(_ => (float)(0.3 + random.NextDouble())).ToArray()));
        }
    }
}
