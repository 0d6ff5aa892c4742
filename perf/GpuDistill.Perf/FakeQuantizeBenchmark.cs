using GpuDistill.Compute;
using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Perf;

/// <summary>
/// Fake quantization (loss-spec-2 8.1): the fused kernels on every backend against the same math in libtorch ops
/// (<see cref="FakeQuantizeComposite"/>), forward and backward, on weight and activation sizes of the library's
/// models at batch 128; and what quantization-aware training costs per step (small-cnn, 4-bit weights and
/// activations, against the float model).
/// </summary>
/// <remarks>
/// Activations are quantized per tensor with their range found first (the training path: a range pass, then one
/// fused pass that quantizes, dequantizes and writes the mask), weights per output channel (4 bits). Every line of
/// one size is timed in interleaved rounds, since the shared machine's speed drifts more than the lines differ.
/// Bytes are the kernels' own traffic: the range pass reads x, the fused pass reads x and writes x^ and a one-byte
/// mask, backward reads the gradient and the mask and writes the gradient: 22 bytes per element.
/// </remarks>
internal static class FakeQuantizeBenchmark
{
    public const string Kernel = "fake-quant";

    /// <summary>(name, shape, per-channel weights or per-tensor activations).</summary>
    public static IReadOnlyList<(string Name, long[] Shape, bool Weights)> Sizes { get; } =
    [
        ("teacher conv weight", [128, 64, 3, 3], true),
        ("small-cnn stage1 act", [128, 8, 28, 28], false),
        ("teacher stage1 act", [128, 32, 28, 28], false),
    ];

    public static IEnumerable<ResultRow> Run(BenchmarkSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        foreach ((string size, long[] shape, bool weights) in Sizes)
        {
            using var scope = NewDisposeScope();
            var generator = new Generator(5);
            Tensor x = randn(shape, generator: generator).requires_grad_(true);
            Tensor upstream = randn(shape, generator: generator);
            var names = new List<string> { "torchsharp-composite" };
            var actions = new List<Action> { () => Step(x, upstream, () => weights ? CompositeWeights(x) : CompositeActivation(x)) };
            foreach ((string name, ComputeDevice device) in settings.Devices)
            {
                names.Add(device.UsesHostSimd ? name + " (kernels on its CPU accelerator)" : name);
                actions.Add(() => Step(x, upstream, () => weights ? Quantize.FakeQuantizeWeights(x, Bits, device) : Activation(x, device)));
            }
            Timing[] timings = Timing.MeasureInterleaved(actions, warmup: 2, minRounds: settings.Quick ? 5 : 20,
                maxRounds: settings.Quick ? 20 : 200, maxSeconds: settings.Quick ? 5 : 30);
            for (int i = 0; i < names.Count; i++)
            {
                yield return new ResultRow(Kernel, names[i], $"{size} {string.Join('x', shape)}", "range+fake-quant fwd+bwd",
                    timings[i], 22 * x.numel(), timings[0].MedianMs);
            }
        }

        foreach (ResultRow row in TrainingSteps(settings)) yield return row;
    }

    /// <summary>One small-cnn training step (batch 128, cross-entropy, Nesterov SGD), float and 4-bit quantized.</summary>
    private static IEnumerable<ResultRow> TrainingSteps(BenchmarkSettings settings)
    {
        using var outer = NewDisposeScope();
        const int batch = 128;
        var generator = new Generator(7);
        Tensor images = randn([batch, 1, DistillModel.ImageSize, DistillModel.ImageSize], generator: generator);
        Tensor labels = randint(0, DistillModel.ClassCount, [batch], generator: generator);
        var models = new List<(string Name, DistillModel Model)> { ("small-cnn float", ModelFactory.Create("small-cnn", 1)) };
        foreach ((string name, ComputeDevice device) in settings.Devices)
        {
            models.Add(($"small-cnn 4-bit on {name}", QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 1),
                new QuantizationOptions { WeightBits = 4, ActivationBits = 4 }, device)));
        }
        try
        {
            var actions = new List<Action>();
            foreach ((_, DistillModel model) in models)
            {
                model.train();
                var optimizer = new NesterovSgd(model.parameters(), 0.01, 0.9, 5e-4);
                actions.Add(() =>
                {
                    using var scope = NewDisposeScope();
                    Tensor loss = nn.functional.cross_entropy(model.ForwardLogits(images), labels);
                    optimizer.ZeroGrad();
                    loss.backward();
                    optimizer.Step();
                });
            }
            Timing[] timings = Timing.MeasureInterleaved(actions, warmup: 2, minRounds: settings.Quick ? 3 : 10,
                maxRounds: settings.Quick ? 10 : 60, maxSeconds: settings.Quick ? 10 : 60);
            for (int i = 0; i < models.Count; i++)
                yield return new ResultRow(Kernel, models[i].Name, $"batch {batch}", "train step", timings[i], 0, timings[0].MedianMs);
        }
        finally
        {
            foreach ((_, DistillModel model) in models) model.Dispose();
        }
    }

    private const int Bits = 4;

    private static void Step(Tensor x, Tensor upstream, Func<Tensor> fakeQuantize)
    {
        using var step = NewDisposeScope();
        x.grad = null;
        fakeQuantize().backward([upstream]);
    }

    /// <summary>The activation path of a quantized layer in training: range, scale and zero point, fake quantization.</summary>
    private static Tensor Activation(Tensor x, ComputeDevice device)
    {
        ValueRange range = Quantize.Ranges(x, 1, device)[0];
        IntegerGrid grid = IntegerGrid.NonNegative(Bits);
        (float scale, int zeroPoint) = QuantizationScales.Affine(range.Minimum, range.Maximum, grid);
        return Quantize.FakeQuantize(x, scale, zeroPoint, grid, device);
    }

    private static Tensor CompositeActivation(Tensor x)
    {
        (float[] lo, float[] hi) = FakeQuantizeComposite.Ranges(x, 1);
        IntegerGrid grid = IntegerGrid.NonNegative(Bits);
        (float scale, int zeroPoint) = QuantizationScales.Affine(lo[0], hi[0], grid);
        return FakeQuantizeComposite.FakeQuantize(x, [scale], [zeroPoint], grid.Minimum, grid.Maximum);
    }

    private static Tensor CompositeWeights(Tensor x)
    {
        int rows = (int)x.shape[0];
        (float[] lo, float[] hi) = FakeQuantizeComposite.Ranges(x, rows);
        IntegerGrid grid = IntegerGrid.Symmetric(Bits);
        float[] scales = [.. lo.Zip(hi, (a, b) => QuantizationScales.Symmetric(MathF.Max(-a, b), grid))];
        return FakeQuantizeComposite.FakeQuantize(x, scales, new float[rows], grid.Minimum, grid.Maximum);
    }
}
