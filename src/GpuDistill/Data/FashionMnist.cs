namespace GpuDistill.Data;

/// <summary>
/// Fashion-MNIST (Zalando Research, MIT licence): 28x28 grey images of 10 kinds of clothing, 60,000 for training and
/// 10,000 for testing. Loads the four standard IDX files from a directory, or a stratified subset embedded in this
/// library so that examples and tests run with no data installed.
/// </summary>
public static class FashionMnist
{
    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the full dataset.</summary>
    public const string InstalledDirectory = "/usr/share/datasets/fashion-mnist";

    /// <summary>Mean pixel value of the training set, on the 0..1 scale.</summary>
    public const float Mean = 0.2860f;

    /// <summary>Standard deviation of the training set's pixels, on the 0..1 scale.</summary>
    public const float Std = 0.3530f;

    /// <summary>Image height and width in pixels.</summary>
    public const int ImageSize = 28;

    /// <summary>The number of classes.</summary>
    public const int ClassCount = 10;

    /// <summary>The seed that chose the embedded subset.</summary>
    public const int EmbeddedSubsetSeed = 20240607;

    /// <summary>Training images per class in the embedded subset.</summary>
    public const int EmbeddedTrainPerClass = 600;

    /// <summary>Test images per class in the embedded subset.</summary>
    public const int EmbeddedTestPerClass = 100;

    private const string TrainImages = "train-images-idx3-ubyte";
    private const string TrainLabels = "train-labels-idx1-ubyte";
    private const string TestImages = "t10k-images-idx3-ubyte";
    private const string TestLabels = "t10k-labels-idx1-ubyte";
    private const string ResourcePrefix = "GpuDistill.Data.Embedded.";

    private static readonly string[] Names =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>The class names, indexed by label.</summary>
    public static IReadOnlyList<string> ClassNames => Names;

    /// <summary>
    /// Loads the training and test sets. With a directory, reads the four standard files from it
    /// (<c>train-images-idx3-ubyte</c>, <c>train-labels-idx1-ubyte</c>, <c>t10k-images-idx3-ubyte</c>,
    /// <c>t10k-labels-idx1-ubyte</c>, each plain or with <c>.gz</c>); without one, loads the embedded subset
    /// (<see cref="LoadEmbedded"/>).
    /// </summary>
    /// <param name="dataDirectory">The directory, e.g. <see cref="InstalledDirectory"/>; null for the embedded subset.</param>
    /// <exception cref="FileNotFoundException">A file is missing.</exception>
    /// <exception cref="InvalidDataException">A file is malformed; the message names it and the problem.</exception>
    public static (ImageDataset Train, ImageDataset Test) Load(string? dataDirectory = null)
    {
        if (dataDirectory is null) return LoadEmbedded();
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        string directory = Path.GetFullPath(dataDirectory);
        ImageDataset train = LoadSplit(directory, TrainImages, TrainLabels, "train");
        ImageDataset test = LoadSplit(directory, TestImages, TestLabels, "test");
        return (train, test);
    }

    /// <summary>
    /// Loads the subset embedded in this library: <see cref="EmbeddedTrainPerClass"/> training and
    /// <see cref="EmbeddedTestPerClass"/> test images of each class, chosen from the official files with
    /// <see cref="EmbeddedSubsetSeed"/> by <see cref="WriteStratifiedSubset"/>.
    /// </summary>
    public static (ImageDataset Train, ImageDataset Test) LoadEmbedded()
    {
        IdxArray trainImages = ReadResource(TrainImages, 3);
        IdxArray trainLabels = ReadResource(TrainLabels, 1);
        IdxArray testImages = ReadResource(TestImages, 3);
        IdxArray testLabels = ReadResource(TestLabels, 1);
        string subset = $"embedded Fashion-MNIST subset ({trainLabels.Dimensions[0]} train / {testLabels.Dimensions[0]} test)";
        return (Check(ImageDataset.FromIdx(trainImages, trainLabels, ClassCount, subset + ", train split"), trainImages.Name),
                Check(ImageDataset.FromIdx(testImages, testLabels, ClassCount, subset + ", test split"), testImages.Name));
    }

    /// <summary>
    /// Maintainer tool: writes a stratified subset of the dataset in <paramref name="sourceDirectory"/> as the four
    /// standard gzipped IDX files in <paramref name="outputDirectory"/>. With the defaults it regenerates the
    /// embedded subset (the same uncompressed bytes; see <c>Data/Embedded/README.md</c>).
    /// </summary>
    /// <param name="sourceDirectory">The full dataset, e.g. <see cref="InstalledDirectory"/>.</param>
    /// <param name="outputDirectory">Where to write; created if needed, existing files overwritten.</param>
    /// <param name="trainPerClass">Training images per class.</param>
    /// <param name="testPerClass">Test images per class.</param>
    /// <param name="seed">The selection seed; each split starts its own generator from it.</param>
    /// <returns>The subsets written.</returns>
    public static (ImageDataset Train, ImageDataset Test) WriteStratifiedSubset(string sourceDirectory, string outputDirectory,
        int trainPerClass = EmbeddedTrainPerClass, int testPerClass = EmbeddedTestPerClass, int seed = EmbeddedSubsetSeed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        (ImageDataset fullTrain, ImageDataset fullTest) = Load(sourceDirectory);
        string description = $"stratified Fashion-MNIST subset ({trainPerClass * ClassCount} train / {testPerClass * ClassCount} test, seed {seed})";
        ImageDataset train = fullTrain.StratifiedSample(trainPerClass, seed, description + ", train split");
        ImageDataset test = fullTest.StratifiedSample(testPerClass, seed, description + ", test split");

        Directory.CreateDirectory(outputDirectory);
        IdxWriter.WriteDataset(train, Path.Combine(outputDirectory, TrainImages + ".gz"), Path.Combine(outputDirectory, TrainLabels + ".gz"), gzip: true);
        IdxWriter.WriteDataset(test, Path.Combine(outputDirectory, TestImages + ".gz"), Path.Combine(outputDirectory, TestLabels + ".gz"), gzip: true);
        return (train, test);
    }

    private static ImageDataset LoadSplit(string directory, string imagesName, string labelsName, string split)
    {
        IdxArray images = IdxReader.Read(FindFile(directory, imagesName), 3);
        IdxArray labels = IdxReader.Read(FindFile(directory, labelsName), 1);
        string source = $"Fashion-MNIST {split} split ({labels.Dimensions[0]} images) from {directory}";
        return Check(ImageDataset.FromIdx(images, labels, ClassCount, source), images.Name);
    }

    /// <summary>The gzipped file if present, else the plain one.</summary>
    private static string FindFile(string directory, string name)
    {
        string gz = Path.Combine(directory, name + ".gz");
        if (File.Exists(gz)) return gz;
        string plain = Path.Combine(directory, name);
        if (File.Exists(plain)) return plain;
        throw new FileNotFoundException($"{gz}: Fashion-MNIST file not found (nor {plain}).", gz);
    }

    private static IdxArray ReadResource(string name, int rank)
    {
        string resource = ResourcePrefix + name + ".gz";
        using Stream stream = typeof(FashionMnist).Assembly.GetManifestResourceStream(resource)
            ?? throw new FileNotFoundException($"{resource}: embedded resource missing from {typeof(FashionMnist).Assembly.GetName().Name}.", resource);
        return IdxReader.Read(stream, resource, rank);
    }

    private static ImageDataset Check(ImageDataset dataset, string imagesName)
    {
        if (dataset.Height != ImageSize || dataset.Width != ImageSize)
            throw new InvalidDataException($"{imagesName}: Fashion-MNIST images are {ImageSize}x{ImageSize}; these are {dataset.Height}x{dataset.Width}.");
        return dataset;
    }
}
