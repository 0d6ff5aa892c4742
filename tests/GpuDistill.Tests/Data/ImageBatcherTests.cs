using GpuDistill.Data;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Data;

/// <summary>Batches: shapes, dtypes, normalised values, deterministic order and augmentation.</summary>
public sealed class ImageBatcherTests
{
    private static readonly ImageDataset Train = FashionMnist.LoadEmbedded().Train;

    [Test]
    public void ShapesAndDtypesWithPartialLastBatch()
    {
        var batcher = new ImageBatcher(Train, batchSize: 256);
        Assert.That(batcher.BatchCount, Is.EqualTo(24));

        var sizes = new List<int>();
        foreach (ImageBatch batch in batcher.Epoch(0))
        {
            using (batch)
            {
                Assert.That(batch.Images.shape, Is.EqualTo(new long[] { batch.Count, 1, 28, 28 }));
                Assert.That(batch.Images.dtype, Is.EqualTo(ScalarType.Float32));
                Assert.That(batch.Labels.shape, Is.EqualTo(new long[] { batch.Count }));
                Assert.That(batch.Labels.dtype, Is.EqualTo(ScalarType.Int64));
                Assert.That(batch.Images.device_type, Is.EqualTo(TorchSharp.DeviceType.CPU));
                sizes.Add(batch.Count);
            }
        }
        Assert.That(sizes, Has.Count.EqualTo(24));
        Assert.That(sizes.Take(23), Is.All.EqualTo(256));
        Assert.That(sizes[^1], Is.EqualTo(6000 - 23 * 256), "the last partial batch is kept");
    }

    [Test]
    public void ValuesAreNormalisedPixelsAndLabelsMatch()
    {
        var batcher = new ImageBatcher(Train, batchSize: 100, new BatchOptions { Shuffle = true, Seed = 5 });
        using ImageBatch batch = batcher.Epoch(0).First();
        float[] images = batch.Images.data<float>().ToArray();
        long[] labels = batch.Labels.data<long>().ToArray();

        for (int i = 0; i < batch.Count; i++)
        {
            int index = batch.Indices[i];
            Assert.That(labels[i], Is.EqualTo(Train.Label(index)));
            ReadOnlySpan<byte> source = Train.Image(index);
            for (int p = 0; p < source.Length; p++)
            {
                double expected = (source[p] / 255.0 - 0.2860) / 0.3530;
                if (Math.Abs(images[i * 784 + p] - expected) > 1e-5)
                    Assert.Fail($"image {i} (dataset index {index}) pixel {p}: {images[i * 784 + p]} != {expected}");
            }
        }
        // Over a whole batch the normalised values are roughly centred and unit-scaled.
        Assert.That(images.Average(), Is.EqualTo(0).Within(0.15));
    }

    [Test]
    public void DefaultOrderIsFileOrder()
    {
        var batcher = new ImageBatcher(Train, batchSize: 1000);
        Assert.That(batcher.Order(3), Is.EqualTo(Enumerable.Range(0, 6000)));
        Assert.That(batcher.Options.Augmentation, Is.EqualTo(ImageAugmentation.None));
    }

    [Test]
    public void ShuffleIsDeterministicPerSeedAndEpoch()
    {
        int[] a = new ImageBatcher(Train, 64, new BatchOptions { Shuffle = true, Seed = 11 }).Order(2);
        int[] same = new ImageBatcher(Train, 128, new BatchOptions { Shuffle = true, Seed = 11 }).Order(2);
        int[] otherSeed = new ImageBatcher(Train, 64, new BatchOptions { Shuffle = true, Seed = 12 }).Order(2);
        int[] otherEpoch = new ImageBatcher(Train, 64, new BatchOptions { Shuffle = true, Seed = 11 }).Order(3);

        Assert.That(a.Order(), Is.EqualTo(Enumerable.Range(0, 6000)), "a permutation");
        Assert.That(a, Is.Not.EqualTo(Enumerable.Range(0, 6000)), "actually shuffled");
        Assert.That(same, Is.EqualTo(a));
        Assert.That(otherSeed, Is.Not.EqualTo(a));
        Assert.That(otherEpoch, Is.Not.EqualTo(a));
    }

    [Test]
    public void BatchesFollowTheOrder()
    {
        var batcher = new ImageBatcher(Train, 700, new BatchOptions { Shuffle = true, Seed = 1 });
        var seen = new List<int>();
        foreach (ImageBatch batch in batcher.Epoch(4))
        {
            using (batch) seen.AddRange(batch.Indices);
        }
        Assert.That(seen, Is.EqualTo(batcher.Order(4)));
    }

    [Test]
    public void FlipGivesThePlainOrTheMirroredImage()
    {
        ImageDataset data = Distinct(300);
        float[][] plain = Images(new ImageBatcher(data, 300));
        float[][] flipped = Images(new ImageBatcher(data, 300, new BatchOptions { Augmentation = ImageAugmentation.HorizontalFlip }));

        int mirrored = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            float[] mirror = Mirror(plain[i], 28);
            if (flipped[i].SequenceEqual(mirror)) mirrored++;
            else Assert.That(flipped[i], Is.EqualTo(plain[i]), $"image {i} is neither plain nor mirrored");
        }
        Assert.That(mirrored, Is.InRange(100, 200), "about half are mirrored");
    }

    [TestCase(false)]
    [TestCase(true)]
    public void CropShiftsByAtMostThePadding(bool withFlip)
    {
        ImageDataset data = Distinct(200);
        ImageAugmentation augmentation = ImageAugmentation.RandomCrop | (withFlip ? ImageAugmentation.HorizontalFlip : 0);
        var batcher = new ImageBatcher(data, 200, new BatchOptions { Augmentation = augmentation, Seed = 9 });
        float[][] cropped = Images(batcher);

        var shifts = new HashSet<(int, int, bool)>();
        for (int i = 0; i < cropped.Length; i++)
        {
            (int, int, bool)? found = ImageMoveReference.Find(cropped[i], data.Image(i), Normalised, mirrors: withFlip);
            Assert.That(found, Is.Not.Null, $"image {i} is not a (mirrored) shift of the original within 2 pixels");
            shifts.Add(found!.Value);
        }
        Assert.That(shifts, Has.Count.GreaterThan(withFlip ? 30 : 15), "offsets (and flips) vary");
    }

    [Test]
    public void AugmentationIsDeterministicAndLeavesTheOrderAlone()
    {
        var options = new BatchOptions { Shuffle = true, Seed = 3, Augmentation = ImageAugmentation.HorizontalFlip | ImageAugmentation.RandomCrop };
        var a = new ImageBatcher(Train, 500, options);
        var b = new ImageBatcher(Train, 500, options);
        var plain = new ImageBatcher(Train, 500, options with { Augmentation = ImageAugmentation.None });

        Assert.That(a.Order(1), Is.EqualTo(plain.Order(1)));
        using ImageBatch x = a.Epoch(1).First();
        using ImageBatch y = b.Epoch(1).First();
        using ImageBatch z = a.Epoch(2).First();
        using ImageBatch p = plain.Epoch(1).First();
        Assert.That(x.Images.data<float>().ToArray(), Is.EqualTo(y.Images.data<float>().ToArray()), "same seed and epoch, same images");
        Assert.That(x.Images.data<float>().ToArray(), Is.Not.EqualTo(p.Images.data<float>().ToArray()), "augmentation changed something");
        Assert.That(z.Indices, Is.Not.EqualTo(x.Indices));
    }

    [Test]
    public void DisposingABatchDisposesItsTensors()
    {
        ImageBatch batch = new ImageBatcher(Train, 8).Epoch(0).First();
        batch.Dispose();
        Assert.That(batch.Images.IsInvalid && batch.Labels.IsInvalid);
    }

    [Test]
    public void RejectsBadArguments()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new ImageBatcher(Train, 0));
        Assert.Throws<ArgumentException>(() => _ = new ImageBatcher(Train, 8, new BatchOptions { Std = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImageBatcher(Train, 8).Order(-1));
    }

    /// <summary>Images whose pixels are never 0 and whose rows differ, so a shift or mirror is unambiguous.</summary>
    private static ImageDataset Distinct(int count)
    {
        var random = new Random(42);
        var pixels = new byte[count * 784];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)random.Next(1, 256);
        return new ImageDataset(pixels, new byte[count], 28, 28, 10, "random test images");
    }

    private static float[][] Images(ImageBatcher batcher)
    {
        using ImageBatch batch = batcher.Epoch(0).Single();
        float[] all = batch.Images.data<float>().ToArray();
        return Enumerable.Range(0, batch.Count).Select(i => all[(i * 784)..((i + 1) * 784)]).ToArray();
    }

    private static float[] Mirror(float[] image, int width)
    {
        var result = new float[image.Length];
        for (int p = 0; p < image.Length; p++) result[p] = image[p / width * width + (width - 1 - p % width)];
        return result;
    }

    private static float Normalised(byte value) => (value / 255f - FashionMnist.Mean) / FashionMnist.Std;
}
