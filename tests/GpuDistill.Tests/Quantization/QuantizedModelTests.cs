using GpuDistill.Data;
using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Quantization;

/// <summary>
/// <see cref="QuantizedModel"/> over the library's models: which layers it wraps, that 8-bit fake quantization stays
/// close to the float model, that a 4-bit small CNN learns on the embedded data, checkpoints with their scales, and
/// bad options. Runs on the default device (the host SIMD backend here).
/// </summary>
public sealed class QuantizedModelTests
{
    private static ImageDataset train = null!;
    private static ImageDataset test = null!;

    // A fresh checkpoint file per test, removed after it.
    private string checkpointFile = null!;

    [SetUp]
    public void NewCheckpointPath() => checkpointFile = Path.Combine(Path.GetTempPath(), $"gpudistill-quant-{Guid.NewGuid():N}.pt");

    [TearDown]
    public void RemoveCheckpoint() => File.Delete(checkpointFile);

    [OneTimeSetUp]
    public void LoadData()
    {
        (ImageDataset fullTrain, ImageDataset fullTest) = FashionMnist.LoadEmbedded();
        train = fullTrain.StratifiedSample(20, 3, "quantization test slice");
        test = fullTest.StratifiedSample(10, 3, "quantization test slice");
    }

    [TestCase("small-cnn", new[] { "stage1.0", "stage1.3", "stage2.0", "stage2.3", "stage3.0", "stage3.3", "head" })]
    [TestCase("mid-cnn", new[] { "stage1.0", "stage1.3", "stage2.0", "stage2.3", "stage3.0", "stage3.3", "head" })]
    [TestCase("teacher-cnn", new[] { "stage1.0", "stage1.3", "stage2.0", "stage2.3", "stage3.0", "stage3.3", "head" })]
    [TestCase("mlp", new[] { "fc1", "fc2", "head" })]
    [TestCase("cnn-4x1k3-8x1k3-16x1s3", new[] { "stage1.0", "stage2.0", "stage3.0", "stage3.3", "head" })] // depthwise and pointwise
    public void WrapsEveryConvolutionAndLinearLayer(string architecture, string[] layers)
    {
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create(architecture, 1), new QuantizationOptions());
        Assert.That(model.QuantizedLayers, Is.EquivalentTo(layers));
        Assert.That(model.Architecture, Is.EqualTo(architecture));
        using var scope = NewDisposeScope();
        using ModelOutput output = model.Forward(randn(3, 1, 28, 28));
        Assert.That(output.Logits.shape, Is.EqualTo(new long[] { 3, 10 }));
    }

    [TestCase("small-cnn")]
    [TestCase("teacher-cnn")]
    [TestCase("mlp")]
    public void EightBitOutputIsCloseToFloat(string architecture)
    {
        using DistillModel reference = ModelFactory.Create(architecture, 4);
        using DistillModel copy = ModelFactory.Create(architecture, 4);
        using QuantizedModel quantized = QuantizedModel.Wrap(copy, new QuantizationOptions { WeightBits = 8, ActivationBits = 8 });
        quantized.Calibrate(Batches(train, 100).Take(2));
        reference.eval();
        quantized.eval();
        using var scope = NewDisposeScope();
        Tensor images = Batches(test, 100).First();
        Tensor expected = reference.ForwardLogits(images);
        Tensor actual = quantized.ForwardLogits(images);
        double error = actual.sub(expected).abs().max().item<float>();
        double size = expected.abs().max().item<float>();
        double agreement = actual.argmax(1).eq(expected.argmax(1)).to_type(ScalarType.Float32).mean().item<float>();
        TestContext.Out.WriteLine($"{architecture}: max |logit error| {error:G3} of max |logit| {size:G3}; top-1 agreement {agreement:P1}");
        Assert.That(error, Is.LessThan(0.05 * size), "8-bit logits within 5% of the float model's scale");
        Assert.That(agreement, Is.GreaterThanOrEqualTo(0.95));
        Assert.That(TensorEquality.Identical(actual, expected), Is.False, "the quantized model does quantize");
    }

    [TestCase(ActivationScaling.RunningRange)]
    [TestCase(ActivationScaling.Learned)]
    public void FourBitSmallCnnLearnsOnTheEmbeddedData(ActivationScaling scaling)
    {
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 7),
            new QuantizationOptions { WeightBits = 4, ActivationBits = 4, ActivationScaling = scaling });
        model.train();
        using var optimizer = optim.Adam(model.parameters(), lr: 0.01);
        var batcher = new ImageBatcher(train, 50, new BatchOptions { Shuffle = true, Seed = 1 });
        var losses = new List<double>();
        for (int epoch = 0; epoch < 4; epoch++)
        {
            foreach (ImageBatch batch in batcher.Epoch(epoch))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    optimizer.zero_grad();
                    Tensor loss = nn.functional.cross_entropy(model.ForwardLogits(batch.Images), batch.Labels);
                    loss.backward();
                    optimizer.step();
                    losses.Add(loss.item<float>());
                }
            }
        }
        double first = losses.Take(4).Average(), last = losses.TakeLast(4).Average();
        TestContext.Out.WriteLine($"4-bit small-cnn ({scaling}): loss {first:F3} -> {last:F3} over {losses.Count} steps");
        Assert.That(last, Is.LessThan(0.8 * first), "the loss falls");
        Assert.That(model.parameters().All(p => p.grad is not null), "every parameter (learned steps included) gets a gradient");
    }

    [TestCase(false)]   // signed images: the two's-complement grid
    [TestCase(true)]    // non-negative images: the unsigned grid
    public void ALeastErrorStartIsTheFirstBatchsStepOfLeastError(bool nonNegative)
    {
        // 1,300 images of 784 pixels: over 2^24 / 17 elements, so the candidate ratios are scored in two chunks.
        Random random = RandomData.NewRandom();
        float[] values = RandomData.Normal(random, 1300 * 784, 1.0);
        if (nonNegative) values = [.. values.Select(MathF.Abs)];
        values[random.Next(values.Length)] = 12f;   // an outlier, which clipping is for
        var options = new QuantizationOptions
        {
            WeightBits = 4, ActivationBits = 4, ActivationScaling = ActivationScaling.Learned,
            LearnedStepStart = LearnedStepStart.LeastError, Layers = ["stage1.0"],
        };
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), options);
        using QuantizedModel lsq = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), options with { LearnedStepStart = LearnedStepStart.MeanAbsolute });
        using var scope = NewDisposeScope();
        Tensor images = tensor(values, [1300, 1, 28, 28]);
        model.train();
        lsq.train();
        model.Forward(images);
        lsq.Forward(images);

        ActivationQuantization start = model.ActivationOf("stage1.0")!.Value;
        Assert.That(start.Grid.IsSigned, Is.EqualTo(!nonNegative), "the grid follows the first batch's sign");
        (double[] steps, double[] errors) = FakeQuantizeReference.LeastErrorSteps(ReferenceMath.ToDouble(values), start.Grid.Minimum, start.Grid.Maximum);
        int index = Array.FindIndex(steps, c => Math.Abs(c - start.Scale) <= 1e-6 * c);
        Assert.That(index, Is.GreaterThanOrEqualTo(0), $"step {start.Scale} is a candidate");
        Assert.That(errors[index], Is.LessThanOrEqualTo(errors.Min() * (1 + 1e-6)), "and one of least error");
        Assert.That(index, Is.GreaterThan(0), "the outlier is clipped");
        float lsqStart = lsq.ActivationOf("stage1.0")!.Value.Scale;
        double meanAbsolute = values.Average(v => Math.Abs((double)v));
        Assert.That(lsqStart, Is.EqualTo(2 * meanAbsolute / Math.Sqrt(start.Grid.Maximum)).Within(1e-3).Percent, "LSQ's own start, 2 mean|x| / sqrt(Qp)");
        Assert.That(model.ActivationOf("stage1.0"), Is.EqualTo(start), "evaluation keeps the step the first batch set");
    }

    [TestCase(ActivationScaling.RunningRange)]
    [TestCase(ActivationScaling.Learned)]
    public void CheckpointCarriesWeightsAndScales(ActivationScaling scaling)
    {
        var options = new QuantizationOptions { WeightBits = 4, ActivationBits = 4, ActivationScaling = scaling };
        using QuantizedModel saved = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), options);
        using QuantizedModel loaded = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options);
        using var scope = NewDisposeScope();
        saved.train();
        saved.Forward(randn(8, 1, 28, 28));
        saved.Forward(randn(8, 1, 28, 28).mul(3));
        saved.eval();
        Tensor x = randn(5, 1, 28, 28);
        Tensor expected = saved.ForwardLogits(x);

        Checkpoint.SaveAtomic(saved, checkpointFile);
        Assert.That(Checkpoint.TryLoad(loaded, checkpointFile), Is.True);
        loaded.eval();
        foreach (string layer in saved.QuantizedLayers)
            Assert.That(loaded.ActivationOf(layer), Is.EqualTo(saved.ActivationOf(layer)), layer);
        foreach ((string name, Tensor value) in saved.state_dict())
            Assert.That(TensorEquality.Identical(loaded.state_dict()[name], value), name);
        Assert.That(TensorEquality.Identical(loaded.ForwardLogits(x), expected), "same outputs after loading");
        Assert.That(saved.state_dict().Keys, Has.Some.StartsWith("quantizers.stage1_0.activation_"));

        // The bit widths travel with the state: a wrapper of other widths loads the file and can tell.
        using QuantizedModel wider = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options with { WeightBits = 8, ActivationBits = 8 });
        Assert.That(wider.BitsInState, Is.EqualTo((8, 8)));
        Assert.That(Checkpoint.TryLoad(wider, checkpointFile), Is.True);
        Assert.That(wider.BitsInState, Is.EqualTo((4, 4)));

        // A float checkpoint is not a quantized one: refused, naming the file.
        using DistillModel plain = ModelFactory.Create("small-cnn", 3);
        Checkpoint.SaveAtomic(plain, checkpointFile);
        Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(loaded, checkpointFile));
    }

    [Test]
    public void FeatureCaptureFindsTheLayersThroughTheWrapper()
    {
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), new QuantizationOptions());
        using var capture = new FeatureCapture(model, [.. model.FeatureLayers, model.EmbeddingLayer]);
        using var scope = NewDisposeScope();
        using ModelOutput output = model.Forward(randn(2, 1, 28, 28));
        Assert.That(capture["model.stage3"].shape, Is.EqualTo(new long[] { 2, 32, 7, 7 }));
        Assert.That(capture["model.head:in"].shape, Is.EqualTo(new long[] { 2, 32 }));
        capture.Clear();
    }

    [Test]
    public void TwoBitWeightsAreTernaryPerChannel()
    {
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("mlp", 1),
            new QuantizationOptions { WeightBits = 2, ActivationBits = null, Layers = ["fc2"] });
        Assert.That(model.QuantizedLayers, Is.EqualTo(new[] { "fc2" }));
        Assert.That(model.ActivationOf("fc2"), Is.Null, "activations stay float");
        using var capture = new FeatureCapture(model, ["model.fc2:in", "model.fc2"]);
        using var scope = NewDisposeScope();
        using ModelOutput output = model.Forward(randn(4, 1, 28, 28));

        // Ternary weights written out here: s_k = max_j |W_kj| (qmax = 1), W^_kj = s_k round(W_kj / s_k) in {-s_k, 0, s_k}.
        var parameters = model.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Tensor w = parameters["fc2.weight"].detach();
        Tensor s = w.abs().amax([1], keepdim: true);
        Tensor ternary = w.div(s).round().mul(s);
        Tensor expected = nn.functional.linear(capture["model.fc2:in"], ternary, parameters["fc2.bias"].detach()).relu();
        // Mlp applies ReLU in place to fc2's output, so the capture holds the rectified value.
        Assert.That(capture["model.fc2"].sub(expected).abs().max().item<float>(), Is.LessThan(1e-5f));
        capture.Clear();
    }

    [Test]
    public void EdgeLayersTakeTheirOwnWidth()
    {
        // Weights only, so each layer's output can be written out here: fc1 (first) and head (last) at 8 bits, fc2 ternary.
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("mlp", 1),
            new QuantizationOptions { WeightBits = 2, ActivationBits = null, EdgeLayerBits = 8 });
        Assert.That(model.QuantizedLayers, Is.EqualTo(new[] { "fc1", "fc2", "head" }));
        Assert.That(model.QuantizedLayers.Select(l => model.WeightGridOf(l).Bits), Is.EqualTo(new[] { 8, 2, 8 }));
        Assert.That(model.Options.ToString(), Does.Contain("first and last layers 8-bit"));
        using var capture = new FeatureCapture(model, ["model.fc1:in", "model.fc1", "model.fc2:in", "model.fc2"]);
        using var scope = NewDisposeScope();
        using ModelOutput output = model.Forward(randn(4, 1, 28, 28));
        var parameters = model.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach ((string layer, int qmax) in new[] { ("fc1", 127), ("fc2", 1) })
        {
            Tensor w = parameters[layer + ".weight"].detach();
            Tensor s = w.abs().amax([1], keepdim: true).div(qmax);
            Tensor expected = nn.functional.linear(capture[$"model.{layer}:in"], w.div(s).round().mul(s), parameters[layer + ".bias"].detach()).relu();
            Assert.That(capture[$"model.{layer}"].sub(expected).abs().max().item<float>(), Is.LessThan(1e-5f), layer);
        }
        capture.Clear();
    }

    [TestCase("small-cnn", "stage1.0", "head")]
    [TestCase("teacher-cnn", "stage1.0", "head")]
    [TestCase("mlp", "fc1", "head")]
    public void EdgeLayersAreTheFirstAndLastThatRun(string architecture, string first, string last)
    {
        // TorchSharp registers a model's fields by name, so "head" comes before "stage1.0" in named_modules.
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create(architecture, 1),
            new QuantizationOptions { WeightBits = 4, ActivationBits = 4, EdgeLayerBits = 8 });
        Assert.That(model.EdgeLayers, Is.EqualTo(new[] { first, last }));
    }

    [Test]
    public void EdgeLayersOfAChosenSetAreItsFirstAndLastThatRun()
    {
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1),
            new QuantizationOptions { WeightBits = 4, ActivationBits = 4, ActivationScaling = ActivationScaling.Learned, EdgeLayerBits = 8, Layers = ["head", "stage2.0", "stage1.3"] });
        Assert.That(model.EdgeLayers, Is.EqualTo(new[] { "stage1.3", "head" }));
        using var scope = NewDisposeScope();
        model.train();
        model.Forward(randn(6, 1, 28, 28));
        foreach ((string layer, int bits) in new[] { ("stage1.3", 8), ("stage2.0", 4), ("head", 8) })
        {
            Assert.That(model.ActivationOf(layer)!.Value.Grid.Bits, Is.EqualTo(bits), layer);
            Assert.That(model.WeightGridOf(layer).Bits, Is.EqualTo(bits), layer);
        }
        using QuantizedModel uniform = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), new QuantizationOptions());
        Assert.That(uniform.EdgeLayers, Is.Empty);
    }

    [Test]
    public void EdgeWidthsTravelWithTheCheckpoint()
    {
        var options = new QuantizationOptions { WeightBits = 4, ActivationBits = 4, EdgeLayerBits = 8 };
        using QuantizedModel saved = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), options);
        using var scope = NewDisposeScope();
        saved.train();
        saved.Forward(randn(8, 1, 28, 28));
        Checkpoint.SaveAtomic(saved, checkpointFile);
        using QuantizedModel same = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options);
        Assert.That(Checkpoint.TryLoad(same, checkpointFile), Is.True);
        // Another edge width has the same state shapes: it loads, and the state tells what the file was trained with.
        using QuantizedModel other = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options with { EdgeLayerBits = 16 });
        Assert.That(other.EdgeBitsInState, Is.EqualTo(16));
        Assert.That(Checkpoint.TryLoad(other, checkpointFile), Is.True);
        Assert.That(other.EdgeBitsInState, Is.EqualTo(8));
        // A wrapper without edge widths is not the model that was trained: refused, not silently re-quantized.
        using QuantizedModel uniform = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options with { EdgeLayerBits = null });
        Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(uniform, checkpointFile));
        Assert.That(uniform.EdgeBitsInState, Is.Null);
    }

    [Test]
    public void LeastErrorWeightRangesTravelWithTheCheckpoint()
    {
        var options = new QuantizationOptions { WeightBits = 4, ActivationBits = 4, WeightScaling = WeightScaling.Mse };
        using QuantizedModel saved = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1), options);
        Assert.That(saved.Options.ToString(), Does.Contain("least squared error"));
        using var scope = NewDisposeScope();
        saved.train();
        saved.Forward(randn(8, 1, 28, 28));
        saved.eval();
        Tensor x = randn(5, 1, 28, 28);
        Tensor expected = saved.ForwardLogits(x);
        Checkpoint.SaveAtomic(saved, checkpointFile);
        using QuantizedModel same = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options);
        Assert.That(Checkpoint.TryLoad(same, checkpointFile), Is.True);
        same.eval();
        Assert.That(TensorEquality.Identical(same.ForwardLogits(x), expected), "same outputs after loading");
        // Max ranges would quantize the same weights differently: refused, not silently changed.
        using QuantizedModel max = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 2), options with { WeightScaling = WeightScaling.Max });
        Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(max, checkpointFile));
    }

    [Test]
    public void BadOptionsAreRejected()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        var bits = Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedModel.Wrap(model, new QuantizationOptions { WeightBits = 1 }));
        Assert.That(bits!.ParamName, Is.EqualTo("WeightBits"));
        var activation = Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedModel.Wrap(model, new QuantizationOptions { ActivationBits = 17 }));
        Assert.That(activation!.ParamName, Is.EqualTo("ActivationBits"));
        Assert.That(activation.Message, Does.Contain("2..16").And.Contain("17"));
        var edge = Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedModel.Wrap(model, new QuantizationOptions { EdgeLayerBits = 1 }));
        Assert.That(edge!.ParamName, Is.EqualTo("EdgeLayerBits"));
        var missing = Assert.Throws<ArgumentException>(() => QuantizedModel.Wrap(model, new QuantizationOptions { Layers = ["stage9.0"] }));
        Assert.That(missing!.Message, Does.Contain("stage9.0").And.Contain("stage1.0"));
        var wrongType = Assert.Throws<ArgumentException>(() => QuantizedModel.Wrap(model, new QuantizationOptions { Layers = ["stage1.1"] }));
        Assert.That(wrongType!.Message, Does.Contain("stage1.1").And.Contain("BatchNormalization2d"));
        using QuantizedModel fresh = QuantizedModel.Wrap(ModelFactory.Create("mlp", 1), new QuantizationOptions());
        Assert.Throws<InvalidOperationException>(() => fresh.ActivationOf("fc1"), "no range before training or calibration");
    }

    private static IEnumerable<Tensor> Batches(ImageDataset data, int size)
    {
        foreach (ImageBatch batch in new ImageBatcher(data, size).Epoch(0))
        {
            using (batch) yield return batch.Images.alias();
        }
    }
}
