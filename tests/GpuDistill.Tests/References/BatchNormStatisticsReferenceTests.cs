using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The batch-norm statistics reference's gradient against central finite differences of its own loss.</summary>
public sealed class BatchNormStatisticsReferenceTests
{
    [TestCase(1, 1, 1)]
    [TestCase(1, 3, 1)]
    [TestCase(3, 4, 6)]
    [TestCase(2, 9, 2)]
    public void GradientMatchesFiniteDifferences(int batch, int channels, int spatial)
    {
        Random random = RandomData.NewRandom();
        var layers = new List<BatchNormStatisticsReference.Layer>
        {
            RandomLayer(random, batch, channels, spatial, 10),
            RandomLayer(random, batch, 2, 3, 1),
        };
        (_, double[][] gradients) = BatchNormStatisticsReference.Compute(layers);
        for (int l = 0; l < layers.Count; l++)
        {
            int layer = l;
            FiniteDifferences.AssertGradient(
                x => BatchNormStatisticsReference.Compute(
                    [.. layers.Select((other, k) => k == layer ? other with { Input = x } : other)]).Loss,
                layers[l].Input, gradients[l]);
        }
    }

    [Test]
    public void HandComputedSingleChannel()
    {
        // Values 1, 2, 3, 6: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5; running mean 1, variance 0.5:
        // loss = w (|3.5 - 0.5| + |3 - 1|) = 2 * 5 = 10. Gradient (w/N)(2 sign(3) (a - 3) + sign(2)) = 0.5 (2 (a - 3) + 1).
        var layer = new BatchNormStatisticsReference.Layer([1, 2, 3, 6], 2, 1, 2, [1], [0.5], 2);
        (double loss, double[][] gradients) = BatchNormStatisticsReference.Compute([layer]);
        Assert.That(loss, Is.EqualTo(10).Within(1e-12));
        Assert.That(gradients[0], Is.EqualTo(new[] { -1.5, -0.5, 0.5, 3.5 }).Within(1e-12));
    }

    private static BatchNormStatisticsReference.Layer RandomLayer(Random random, int batch, int channels, int spatial, double weight) =>
        new(ReferenceMath.ToDouble(RandomData.Uniform(random, batch * channels * spatial, 2)), batch, channels, spatial,
            ReferenceMath.ToDouble(RandomData.Uniform(random, channels, 1)),
            [.. Enumerable.Range(0, channels).Select(_ => 0.2 + random.NextDouble())], weight);
}
