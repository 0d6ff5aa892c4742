using GpuDistill.Compute;
using GpuDistill.Quantization;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.Kernels;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Quantization;

/// <summary>
/// <see cref="Quantize"/> through TorchSharp autograd on every bridge device (the kernels, and the composites on the
/// host device), against the float64 reference: values, the STE mask at the clamp edges, and an upstream gradient of
/// 2.5 that reaches the input as 2.5 times the mask (and the LSQ step as 2.5 times the reference's step gradient).
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class FakeQuantizeTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const float UpstreamGradient = 2.5f;

    [TestCase(new long[] { 1, 1 }, 8)]
    [TestCase(new long[] { 41, 1271 }, 4)]
    [TestCase(new long[] { 8, 1, 3, 3 }, 2)]
    [TestCase(new long[] { 16, 8, 3, 3 }, 8)]
    [TestCase(new long[] { 3, 5, 3, 3 }, 16)]
    public void WeightsMatchReference(long[] shape, int bits)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        float[] values = RandomData.Uniform(random, shape.Aggregate(1L, (a, b) => a * b), 0.7);
        Tensor weight = tensor(values, shape).requires_grad_(true);
        Tensor upstream = randn(shape, generator: new TorchSharp.torch.Generator((ulong)random.Next()));
        Tensor output = Quantize.FakeQuantizeWeights(weight, bits, Device);
        (output * upstream).sum().mul(UpstreamGradient).backward();

        int channels = (int)shape[0];
        double[] scales = FakeQuantizeReference.SymmetricScales(ReferenceMath.ToDouble(values), channels, bits);
        float[] actualScales = Quantize.WeightScales(weight, bits, Device);
        for (int k = 0; k < channels; k++)
            Assert.That(actualScales[k], Is.EqualTo((float)scales[k]), $"scale {k}");
        (int qmin, int qmax) = FakeQuantizeReference.SymmetricGrid(bits);
        (double[] expected, bool[] passes) = FakeQuantizeReference.FakeQuantize(ReferenceMath.ToDouble(values),
            ReferenceMath.ToDouble(actualScales), new double[channels], qmin, qmax);
        float[] actual = TensorData.ToArray(output);
        bool[] actualPasses = [.. TensorData.ToArray(weight.grad!).Zip(TensorData.ToArray(upstream), (g, u) => g != 0 || u == 0)];
        QuantizationKernelTests.AssertQuantized(values, actualScales, actual, actualPasses, expected, passes, values.Length / channels);
        // Symmetric scales put every weight inside the grid: the gradient is the upstream one, unmasked.
        Assert.That(passes, Has.All.True);
        AssertGradient(weight.grad!, upstream, passes);
        if (bits == 2)
            Assert.That(actual.Select((v, i) => Math.Round(v / actualScales[i / (values.Length / channels)])).Distinct(),
                Is.SubsetOf(new[] { -1.0, 0.0, 1.0 }), "2-bit weights are ternary");
    }

    [TestCase(new long[] { 1, 1 }, 8)]
    [TestCase(new long[] { 41, 1271 }, 4)]
    [TestCase(new long[] { 8, 1, 3, 3 }, 2)]
    [TestCase(new long[] { 16, 8, 3, 3 }, 4)]
    [TestCase(new long[] { 1, 100_000 }, 4)]
    public void LeastErrorWeightScalesMatchReference(long[] shape, int bits)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        int channels = (int)shape[0], rowLength = (int)(count / channels);
        float[] values = RandomData.Normal(random, count, 0.3);
        // Extremes: an outlier of about 7 deviations in channel 0 (the case clipping is for; a far larger one costs more
        // clipped than the rest lose in rounding, and stays unclipped) and, with two channels or more, an all-zero last channel.
        if (rowLength > 1) values[random.Next(rowLength)] = 2f;
        if (channels > 1) Array.Clear(values, (channels - 1) * rowLength, rowLength);
        Tensor weight = tensor(values, shape).requires_grad_(true);
        Tensor upstream = randn(shape, generator: new TorchSharp.torch.Generator((ulong)random.Next()));
        Tensor output = Quantize.FakeQuantizeWeights(weight, bits, Device, WeightScaling.Mse);
        (output * upstream).sum().mul(UpstreamGradient).backward();

        double[] w = ReferenceMath.ToDouble(values);
        (double[][] candidates, double[][] errors) = FakeQuantizeReference.LeastErrorCandidates(w, channels, bits);
        float[] actualScales = Quantize.WeightScales(weight, bits, Device, WeightScaling.Mse);
        float[] maxScales = Quantize.WeightScales(weight, bits, Device);
        for (int k = 0; k < channels; k++)
        {
            // The chosen scale is one of the candidates (to float32 rounding) and has the least error among them
            // (float64; equal errors to 1e-9 of the best may tie differently in float32).
            int index = Array.FindIndex(candidates[k], c => Math.Abs(c - actualScales[k]) <= 1e-6 * c);
            Assert.That(index, Is.GreaterThanOrEqualTo(0), $"scale {k} is a candidate");
            double best = errors[k].Min();
            Assert.That(errors[k][index], Is.LessThanOrEqualTo(best + 1e-9 * (1 + best)), $"scale {k} has the least error");
            double chosen = FakeQuantizeReference.ChannelError(w.AsSpan(k * rowLength, rowLength), actualScales[k], bits);
            double unclipped = FakeQuantizeReference.ChannelError(w.AsSpan(k * rowLength, rowLength), maxScales[k], bits);
            Assert.That(chosen, Is.LessThanOrEqualTo(unclipped * (1 + 1e-9) + 1e-12), $"channel {k}: never worse than max|W| / qmax");
        }
        if (rowLength >= 1000 && bits == 4)
            Assert.That(actualScales[0], Is.LessThan(0.8f * maxScales[0]), "a long channel with an outlier is clipped");
        if (channels > 1)
            Assert.That(actualScales[channels - 1], Is.EqualTo(QuantizationScales.MinimumScale), "an all-zero channel keeps the smallest scale");

        (int qmin, int qmax) = FakeQuantizeReference.SymmetricGrid(bits);
        (double[] expected, bool[] passes) = FakeQuantizeReference.FakeQuantize(w, ReferenceMath.ToDouble(actualScales), new double[channels], qmin, qmax);
        QuantizationKernelTests.AssertQuantized(values, actualScales, TensorData.ToArray(output),
            [.. TensorData.ToArray(weight.grad!).Zip(TensorData.ToArray(upstream), (g, u) => g != 0 || u == 0)], expected, passes, rowLength);
        // Clipped weights (outside the grid) get no gradient, the rest the upstream one.
        AssertGradient(weight.grad!, upstream, passes);

        float[] bad = (float[])values.Clone();
        bad[^1] = float.NaN;
        var nonFinite = Assert.Throws<ArgumentException>(() => Quantize.WeightScales(tensor(bad, shape), bits, Device, WeightScaling.Mse));
        Assert.That(nonFinite!.ParamName, Is.EqualTo("weight"));
    }

    [TestCase(new long[] { 1 }, 8)]
    [TestCase(new long[] { 41, 1271 }, 4)]
    [TestCase(new long[] { 7, 3, 5, 5 }, 2)]
    [TestCase(new long[] { 2, 3, 1 }, 16)]
    public void PerTensorMasksTheClampedValues(long[] shape, int bits)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        float[] values = RandomData.Uniform(random, shape.Aggregate(1L, (a, b) => a * b), 4);
        // Exactly on and just past the edges of the range's grid as well as random values.
        IntegerGrid grid = IntegerGrid.NonNegative(bits);
        (float scale, int zeroPoint) = QuantizationScales.Affine(-1.5f, 2.5f, grid);
        float top = (grid.Maximum - zeroPoint) * scale, bottom = (grid.Minimum - zeroPoint) * scale;
        float[] edges = [top, top + 0.49f * scale, top + 0.51f * scale, bottom, bottom - 0.49f * scale, bottom - 0.51f * scale];
        for (int i = 0; i < Math.Min(edges.Length, values.Length); i++) values[i] = edges[i];

        Tensor input = tensor(values, shape).requires_grad_(true);
        Tensor upstream = randn(shape, generator: new TorchSharp.torch.Generator((ulong)random.Next()));
        Tensor output = Quantize.FakeQuantize(input, scale, zeroPoint, grid, Device);
        (output * upstream).sum().mul(UpstreamGradient).backward();

        (double[] expected, bool[] passes) = FakeQuantizeReference.FakeQuantize(ReferenceMath.ToDouble(values),
            [scale], [zeroPoint], grid.Minimum, grid.Maximum);
        if (values.Length >= edges.Length)
            Assert.That(passes[..6], Is.EqualTo(new[] { true, true, false, true, true, false }), "mask at the edges");
        float[] actual = TensorData.ToArray(output);
        bool[] actualPasses = [.. TensorData.ToArray(input.grad!).Zip(TensorData.ToArray(upstream), (g, u) => g != 0 || u == 0)];
        QuantizationKernelTests.AssertQuantized(values, [scale], actual, actualPasses, expected, passes, values.Length);
        AssertGradient(input.grad!, upstream, passes);
    }

    [Test]
    public void PerChannelUsesEachChannelsScaleAndZeroPoint()
    {
        using var scope = NewDisposeScope();
        Tensor input = tensor(new float[] { 0.3f, 1.0f, 0.3f, 1.0f }, [2, 2]);
        IntegerGrid grid = IntegerGrid.NonNegative(4);
        Tensor output = Quantize.FakeQuantizePerChannel(input, [0.2f, 0.5f], [0, 1], grid, Device);
        // Row 0: round(1.5) = 2 -> 0.4, round(5) = 5 -> 1.0; row 1: round(0.6) + 1 = 2 -> 0.5, round(2) + 1 = 3 -> 1.0.
        Assert.That(TensorData.ToArray(output), Is.EqualTo(new[] { 0.4f, 1.0f, 0.5f, 1.0f }).Within(1e-6f));
    }

    [TestCase(1, 4, false)]
    [TestCase(1271, 2, false)]
    [TestCase(41 * 1271, 4, true)]
    [TestCase(3001, 8, true)]
    public void LearnedGivesInputAndStepTheReferenceGradients(int length, int bits, bool negative)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        IntegerGrid grid = negative ? IntegerGrid.TwosComplement(bits) : IntegerGrid.NonNegative(bits);
        float scale = (float)(0.05 + random.NextDouble() * 0.2);
        float[] values = RandomData.Uniform(random, length, scale * grid.Maximum * 1.2);
        Tensor input = tensor(values).requires_grad_(true);
        Tensor step = tensor(new[] { scale }).requires_grad_(true);
        Tensor upstream = randn([length], generator: new TorchSharp.torch.Generator((ulong)random.Next()));
        Tensor output = Quantize.FakeQuantizeLearned(input, step, grid, Device);
        (output * upstream).sum().mul(UpstreamGradient).backward();

        double[] x = ReferenceMath.ToDouble(values);
        (double[] expected, bool[] passes, _) = FakeQuantizeReference.Learned(x, scale, grid.Minimum, grid.Maximum);
        float[] actual = TensorData.ToArray(output);
        int ties = 0;
        for (int i = 0; i < length; i++)
            if (actual[i] != (float)expected[i]) ties++;
        Assert.That(ties, Is.LessThan(Math.Max(2, length / 10_000)), "outputs agree except at rare float32 ties");
        AssertGradient(input.grad!, upstream, passes, tolerateTies: ties + 1);

        double expectedStep = UpstreamGradient * FakeQuantizeReference.LearnedStepGradient(x,
            ReferenceMath.ToDouble(TensorData.ToArray(upstream)), scale, grid.Minimum, grid.Maximum);
        // Float32 sums of up to 52k products of size ~1 against float64: 1e-4 of the sum of their magnitudes.
        double magnitude = UpstreamGradient * TensorData.ToArray(upstream).Sum(u => Math.Abs((double)u)) * grid.Maximum / Math.Sqrt((double)length * grid.Maximum);
        Assert.That(step.grad!.item<float>(), Is.EqualTo(expectedStep).Within(1e-4 * magnitude + 1e-6));
        Assert.That(step.grad!.shape, Is.EqualTo(new long[] { 1 }));
    }

    [Test]
    public void RangesMatchTheData()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        float[] values = RandomData.Uniform(random, 6 * 1271, 9);
        ValueRange[] ranges = Quantize.Ranges(tensor(values, [6, 1271]), 6, Device);
        for (int r = 0; r < 6; r++)
        {
            var row = new ArraySegment<float>(values, r * 1271, 1271);
            Assert.That((ranges[r].Minimum, ranges[r].Maximum), Is.EqualTo((row.Min(), row.Max())), $"row {r}");
            Assert.That(Tolerance.RelativeError(ranges[r].MeanAbsolute, row.Average(v => Math.Abs((double)v))), Is.LessThan(1e-5));
        }
    }

    [Test]
    public void NonContiguousInputIsAccepted()
    {
        using var scope = NewDisposeScope();
        Tensor input = tensor(new float[] { 0.1f, 0.7f, 0.4f, 1.3f, 0.9f, -0.2f }, [2, 3]).t().requires_grad_(true);
        Tensor output = Quantize.FakeQuantize(input, 0.25f, 0, IntegerGrid.TwosComplement(8), Device);
        output.sum().backward();
        Assert.That(TensorData.ToArray(output), Is.EqualTo(new[] { 0f, 1.25f, 0.75f, 1f, 0.5f, -0.25f }).Within(1e-6f));
        Assert.That(input.grad!.shape, Is.EqualTo(new long[] { 3, 2 }));
    }

    private static void AssertGradient(Tensor gradient, Tensor upstream, bool[] passes, int tolerateTies = 1)
    {
        float[] g = TensorData.ToArray(gradient), u = TensorData.ToArray(upstream);
        int differ = 0;
        for (int i = 0; i < g.Length; i++)
        {
            float expected = passes[i] ? UpstreamGradient * u[i] : 0f;
            if (Math.Abs(g[i] - expected) > 1e-6f * (1 + Math.Abs(expected))) differ++;
        }
        // A float32 tie can flip one mask entry against the float64 reference (see AssertQuantized).
        Assert.That(differ, Is.LessThan(Math.Max(tolerateTies, g.Length / 10_000 + 1)), "gradient = upstream x 2.5 x mask");
    }
}
