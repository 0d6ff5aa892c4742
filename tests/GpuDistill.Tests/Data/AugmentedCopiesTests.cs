using GpuDistill.Data;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Data;

/// <summary>
/// <see cref="ImageDataset.WithAugmentedCopies"/>: the images as stored, then each copy of every image a shift of at
/// most the crop padding, mirrored or not, with the image's label; checked against <see cref="ImageMoveReference"/>,
/// which searches every such move.
/// </summary>
public sealed class AugmentedCopiesTests
{
    private const int Side = 28;

    [Test]
    public void TheOriginalsComeFirstThenMovedCopiesWithTheirLabels()
    {
        const int n = 40, copies = 3;
        ImageDataset data = Distinct(n, RandomData.NewRandom());
        ImageDataset grown = data.WithAugmentedCopies(copies, seed: 5);

        Assert.That(grown.Count, Is.EqualTo(n * (copies + 1)));
        var moves = new HashSet<(int, int, bool)>();
        for (int k = 0; k <= copies; k++)
        {
            for (int i = 0; i < n; i++)
            {
                int j = k * n + i;
                Assert.That(grown.Label(j), Is.EqualTo(data.Label(i)), $"label of copy {k} of image {i}");
                if (k == 0)
                {
                    Assert.That(grown.Image(j).ToArray(), Is.EqualTo(data.Image(i).ToArray()), $"image {i} as stored");
                    continue;
                }
                float[] copy = Array.ConvertAll(grown.Image(j).ToArray(), b => (float)b);
                (int, int, bool)? move = ImageMoveReference.Find(copy, data.Image(i), b => b, mirrors: true);
                Assert.That(move, Is.Not.Null, $"copy {k} of image {i} is no shift within {BatchOptions.CropPadding} pixels, mirrored or not");
                moves.Add(move!.Value);
            }
        }
        Assert.That(moves, Has.Count.GreaterThan(25), "the moves vary (50 are possible)");
    }

    [Test]
    public void TheSameSeedGivesTheSameCopiesAndAnotherSeedOthers()
    {
        ImageDataset data = Distinct(30, RandomData.NewRandom());
        byte[] a = data.WithAugmentedCopies(2, seed: 1).Pixels.ToArray();
        byte[] b = data.WithAugmentedCopies(2, seed: 1).Pixels.ToArray();
        byte[] c = data.WithAugmentedCopies(2, seed: 2).Pixels.ToArray();
        Assert.That(b, Is.EqualTo(a));
        Assert.That(c, Is.Not.EqualTo(a));
    }

    [TestCase(0)]
    [TestCase(ImageDataset.MaxAugmentedCopies + 1)]
    public void ACopyCountOutOfRangeIsNamed(int copies)
    {
        ImageDataset data = Distinct(3, new Random(1));
        Assert.That(() => data.WithAugmentedCopies(copies, seed: 1),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("copies").And.Message.Contains("1..64"));
    }

    /// <summary>Images whose pixels are never 0 and differ everywhere, so each move is unambiguous.</summary>
    private static ImageDataset Distinct(int count, Random random)
    {
        var pixels = new byte[count * Side * Side];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)random.Next(1, 256);
        byte[] labels = [.. Enumerable.Range(0, count).Select(i => (byte)(i % 10))];
        return new ImageDataset(pixels, labels, Side, Side, 10, "random test images");
    }
}
