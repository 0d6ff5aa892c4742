using GpuDistill.Compute;
using GpuDistill.Kernels.BatchNormStatistics;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The batch-norm statistics kernels, both layouts (a thread or a group per channel), straight through the launcher,
/// against the float64 reference: one layer of odd shapes (B = 1, 1x1 spatial, many channels, one long channel) and
/// several layers of different shapes and weights in one launch.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class BatchNormStatisticsKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>Layer shapes (B, C, H*W) of the cases.</summary>
    private static readonly (int Batch, int Channels, int Spatial)[][] Cases =
    [
        [(1, 1, 1)],
        [(1, 3, 1)],
        [(3, 4, 6)],
        [(5, 300, 1)],
        [(2, 7, 25)],
        [(4, 8, 49), (4, 16, 9), (4, 5, 1), (4, 3, 196)],
        [(64, 2, 784)],
    ];

    [Test, Combinatorial]
    public void MatchesReference(
        [Range(0, 6)] int shape,
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout,
        [Values(1.0, 30.0)] double scale)
    {
        Random random = RandomData.NewRandom();
        BatchNormCase data = BatchNormCase.Random(random, Cases[shape], scale);
        (double loss, float[] gradient, float[] mean, float[] variance) = Run(data, layout);
        (double expectedLoss, double[][] expectedGradients) = BatchNormStatisticsReference.Compute(data.ReferenceLayers());

        double[] expectedGradient = [.. expectedGradients.SelectMany(g => g)];
        double[] expectedMean = [.. data.ReferenceLayers().SelectMany(l => BatchNormStatisticsReference.Statistics(l).Mean)];
        double[] expectedVariance = [.. data.ReferenceLayers().SelectMany(l => BatchNormStatisticsReference.Statistics(l).Variance)];
        string what = $"layers {string.Join(" ", Cases[shape].Select(c => $"[{c.Batch},{c.Channels},{c.Spatial}]"))}, scale {scale}, {layout}";
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss, expectedLoss, data.Magnitude());
            Assert.That(Tolerance.RelativeMaxError(mean, expectedMean, scale), Is.LessThan(Tolerance.Kernel), $"mean, {what}");
            Assert.That(Tolerance.RelativeMaxError(variance, expectedVariance, scale * scale), Is.LessThan(Tolerance.Kernel), $"variance, {what}");
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient), Is.LessThan(Tolerance.Kernel), $"gradient, {what}");
        });
    }

    [Test]
    public void MatchedStatisticsGiveZeroLossAndGradientNotNaN(
        [Values(RowLayout.RowPerThread, RowLayout.RowPerGroup)] RowLayout layout)
    {
        // Running statistics set to the kernel's own batch statistics: both norms are exactly 0, and the 1e-12 floor
        // must turn the gradient's 0/0 into 0.
        Random random = RandomData.NewRandom();
        BatchNormCase data = BatchNormCase.Random(random, [(3, 4, 6), (3, 2, 1)], 2);
        (_, _, float[] mean, float[] variance) = Run(data, layout);
        BatchNormCase matched = data with { RunningMean = mean, RunningVariance = variance };
        (double loss, float[] gradient, _, _) = Run(matched, layout);
        Assert.That(loss, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    [Test]
    public void LauncherRejectsBadLayersAndViews()
    {
        BatchNormStatisticsLauncher launcher = Device.Kernels<BatchNormStatisticsLauncher>();
        using var input = Device.Accelerator.Allocate1D<float>(12);
        using var values = Device.Accelerator.Allocate1D<float>(8);
        using var loss = Device.Accelerator.Allocate1D<float>(1);
        Assert.Multiple(() =>
        {
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [], values.View, input.View, loss.View), "layers", "at least one");
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [new BatchNormLayer(3, 0, 4, 1f)], values.View, input.View, loss.View), "layers", "positive");
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [new BatchNormLayer(3, 2, 2, -1f)], values.View, input.View, loss.View), "layers", "weight");
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [new BatchNormLayer(3, 2, 3, 1f)], values.View, input.View, loss.View), "input", "expected 18");
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [new BatchNormLayer(3, 3, 4, 1f)], values.View, input.View, loss.View), "input", "expected 36");
            ArgumentAssert.Rejects(() => launcher.Run(input.View, [new BatchNormLayer(3, 1, 4, 1f)], values.View, input.View, loss.View), "values", "expected 4");
        });
    }

    private (double Loss, float[] Gradient, float[] Mean, float[] Variance) Run(BatchNormCase data, RowLayout layout) =>
        KernelLaunches.RunBatchNormStatistics(Device, data.Input, data.Layers, data.RunningMean, data.RunningVariance, layout);
}

/// <summary>Random batch-norm inputs of given layer shapes, their running statistics and weights (10 for the first layer).</summary>
/// <param name="Layers">The layers' shapes and weights.</param>
/// <param name="Input">All inputs, concatenated.</param>
/// <param name="RunningMean">All running means, concatenated.</param>
/// <param name="RunningVariance">All running variances, concatenated.</param>
internal sealed record BatchNormCase(BatchNormLayer[] Layers, float[] Input, float[] RunningMean, float[] RunningVariance)
{
    /// <summary>
    /// Inputs scale * (uniform in [-1, 1] + a per-channel offset in [-1, 1]); running means like the offsets, running
    /// variances scale^2 * uniform in [0.1, 0.6] (so neither norm is near 0).
    /// </summary>
    public static BatchNormCase Random(Random random, IEnumerable<(int Batch, int Channels, int Spatial)> shapes, double scale)
    {
        var layers = new List<BatchNormLayer>();
        var input = new List<float>();
        var runningMean = new List<float>();
        var runningVariance = new List<float>();
        foreach ((int batch, int channels, int spatial) in shapes)
        {
            layers.Add(new BatchNormLayer(batch, channels, spatial, layers.Count == 0 ? 10f : 1f));
            float[] offsets = RandomData.Uniform(random, channels, scale);
            for (int b = 0; b < batch; b++)
            for (int c = 0; c < channels; c++)
            for (int s = 0; s < spatial; s++)
                input.Add(offsets[c] + (float)((random.NextDouble() * 2 - 1) * scale));
            runningMean.AddRange(RandomData.Uniform(random, channels, scale));
            for (int c = 0; c < channels; c++) runningVariance.Add((float)(scale * scale * (0.1 + 0.5 * random.NextDouble())));
        }
        return new BatchNormCase([.. layers], [.. input], [.. runningMean], [.. runningVariance]);
    }

    /// <summary>The same case as the float64 reference's layers.</summary>
    public IReadOnlyList<BatchNormStatisticsReference.Layer> ReferenceLayers()
    {
        var result = new List<BatchNormStatisticsReference.Layer>();
        int offset = 0, channel = 0;
        foreach (BatchNormLayer layer in Layers)
        {
            int size = layer.Batch * layer.Channels * layer.Spatial;
            result.Add(new BatchNormStatisticsReference.Layer(ReferenceMath.ToDouble(Input[offset..(offset + size)]), layer.Batch,
                layer.Channels, layer.Spatial, ReferenceMath.ToDouble(RunningMean[channel..(channel + layer.Channels)]),
                ReferenceMath.ToDouble(RunningVariance[channel..(channel + layer.Channels)]), layer.Weight));
            offset += size;
            channel += layer.Channels;
        }
        return result;
    }

    /// <summary>The size of the loss's terms: sum_l w_l (||var|| + ||var_run|| + ||mu|| + ||mu_run||), roughly.</summary>
    public double Magnitude()
    {
        double maxAbs = Math.Max(Input.Max(Math.Abs), RunningMean.Max(Math.Abs));
        return Layers.Sum(l => l.Weight * Math.Sqrt(l.Channels) * (maxAbs + maxAbs * maxAbs));
    }
}
