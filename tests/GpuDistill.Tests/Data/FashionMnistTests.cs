using GpuDistill.Data;

namespace GpuDistill.Tests.Data;

/// <summary>The embedded subset always; the full dataset where Debian's dataset-fashion-mnist is installed.</summary>
public sealed class FashionMnistTests
{
    [Test]
    public void EmbeddedSubsetIsStratified()
    {
        (ImageDataset train, ImageDataset test) = FashionMnist.Load();

        Assert.That(train.Count, Is.EqualTo(6000));
        Assert.That(test.Count, Is.EqualTo(1000));
        Assert.That(train.CountPerClass(), Is.All.EqualTo(600));
        Assert.That(test.CountPerClass(), Is.All.EqualTo(100));
        Assert.That(train.CountPerClass(), Has.Length.EqualTo(10));
        foreach (ImageDataset split in new[] { train, test })
        {
            Assert.That((split.Height, split.Width, ImageDataset.Channels), Is.EqualTo((28, 28, 1)));
            Assert.That(split.Pixels.Length, Is.EqualTo(split.Count * 28 * 28));
            Assert.That(split.Source, Does.Contain("embedded").And.Contain("6000 train / 1000 test"));
        }
        Assert.That(train.Source, Does.EndWith("train split"));
        Assert.That(test.Source, Does.EndWith("test split"));
    }

    [Test]
    public void EmbeddedSubsetLooksLikeFashionMnist()
    {
        (ImageDataset train, _) = FashionMnist.LoadEmbedded();
        (double mean, double std) = PixelMoments(train);
        // A 10% sample of the training set: its moments should sit near the full set's.
        Assert.That(mean, Is.EqualTo(FashionMnist.Mean).Within(0.01));
        Assert.That(std, Is.EqualTo(FashionMnist.Std).Within(0.01));
    }

    [Test]
    public void FullDatasetLoads()
    {
        RequireInstalled();
        (ImageDataset train, ImageDataset test) = FashionMnist.Load(FashionMnist.InstalledDirectory);

        Assert.That(train.Count, Is.EqualTo(60000));
        Assert.That(test.Count, Is.EqualTo(10000));
        Assert.That(train.CountPerClass(), Is.All.EqualTo(6000));
        Assert.That(test.CountPerClass(), Is.All.EqualTo(1000));
        Assert.That(train.Source, Does.Contain(FashionMnist.InstalledDirectory).And.Contain("60000"));

        // The normalisation constants are the training set's own moments.
        (double mean, double std) = PixelMoments(train);
        Assert.That(mean, Is.EqualTo(FashionMnist.Mean).Within(5e-4));
        Assert.That(std, Is.EqualTo(FashionMnist.Std).Within(5e-4));
    }

    [Test]
    public void GeneratorReproducesTheEmbeddedSubset()
    {
        RequireInstalled();
        using var dir = new TempDirectory();
        FashionMnist.WriteStratifiedSubset(FashionMnist.InstalledDirectory, dir.Path);

        (ImageDataset train, ImageDataset test) = FashionMnist.Load(dir.Path);
        (ImageDataset embeddedTrain, ImageDataset embeddedTest) = FashionMnist.LoadEmbedded();
        Assert.That(train.Pixels.SequenceEqual(embeddedTrain.Pixels), "train pixels");
        Assert.That(train.Labels.SequenceEqual(embeddedTrain.Labels), "train labels");
        Assert.That(test.Pixels.SequenceEqual(embeddedTest.Pixels), "test pixels");
        Assert.That(test.Labels.SequenceEqual(embeddedTest.Labels), "test labels");
    }

    [Test]
    public void StratifiedSampleTakesExactlyPerClassWithoutRepeats()
    {
        (ImageDataset train, _) = FashionMnist.LoadEmbedded();
        ImageDataset a = train.StratifiedSample(7, seed: 3, "a");
        ImageDataset b = train.StratifiedSample(7, seed: 3, "b");
        ImageDataset c = train.StratifiedSample(7, seed: 4, "c");

        Assert.That(a.CountPerClass(), Is.All.EqualTo(7));
        Assert.That(a.Pixels.SequenceEqual(b.Pixels), "same seed, same sample");
        Assert.That(a.Pixels.SequenceEqual(c.Pixels), Is.False, "another seed, another sample");
        Assert.Throws<ArgumentException>(() => train.StratifiedSample(601, seed: 3, "too many"));
    }

    [Test]
    public void ClassNamesHaveOnePerClass() =>
        Assert.That(FashionMnist.ClassNames, Has.Count.EqualTo(FashionMnist.ClassCount).And.Contains("Ankle boot"));

    private static void RequireInstalled()
    {
        if (!File.Exists(Path.Combine(FashionMnist.InstalledDirectory, "train-images-idx3-ubyte.gz")))
            Assert.Ignore($"The full Fashion-MNIST is not installed in {FashionMnist.InstalledDirectory} (apt-get install -y dataset-fashion-mnist).");
    }

    private static (double Mean, double Std) PixelMoments(ImageDataset dataset)
    {
        double sum = 0, sumSquares = 0;
        foreach (byte p in dataset.Pixels)
        {
            double v = p / 255.0;
            sum += v;
            sumSquares += v * v;
        }
        double mean = sum / dataset.Pixels.Length;
        return (mean, Math.Sqrt(sumSquares / dataset.Pixels.Length - mean * mean));
    }
}
