namespace GpuDistill.Data;

/// <summary>
/// Labelled single-channel images held as bytes (0 = black, 255 = white), row-major, one image after another.
/// Immutable; <see cref="ImageBatcher"/> turns it into normalised tensors.
/// </summary>
public sealed class ImageDataset
{
    private readonly ReadOnlyMemory<byte> pixels;
    private readonly ReadOnlyMemory<byte> labels;
    private readonly string? withheldReason;

    /// <summary>Copies images and labels into a new dataset.</summary>
    /// <param name="pixels">Count x height x width bytes.</param>
    /// <param name="labels">Count labels, each in [0, <paramref name="classCount"/>).</param>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="classCount">The number of classes.</param>
    /// <param name="source">Where the data came from, for logs and reports.</param>
    public ImageDataset(ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels, int height, int width, int classCount, string source)
        : this(pixels.ToArray(), labels.ToArray(), height, width, classCount, source, checkedLabels: false)
    {
    }

    private ImageDataset(ReadOnlyMemory<byte> pixels, ReadOnlyMemory<byte> labels, int height, int width, int classCount,
        string source, bool checkedLabels, string? withheldReason = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(classCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(classCount, 256);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if ((long)labels.Length * height * width != pixels.Length)
            throw new ArgumentException(
                $"{pixels.Length} pixel bytes do not make {labels.Length} images of {height}x{width}.", nameof(pixels));
        if (!checkedLabels)
        {
            int bad = IndexOfLabelOutOfRange(labels.Span, classCount);
            if (bad >= 0)
                throw new ArgumentException($"labels[{bad}] = {labels.Span[bad]} is outside [0, {classCount}).", nameof(labels));
        }
        this.pixels = pixels;
        this.labels = labels;
        this.withheldReason = withheldReason;
        Height = height;
        Width = width;
        ClassCount = classCount;
        Source = source;
    }

    /// <summary>
    /// A training set whose images a run must not read (data-free distillation): it keeps the image size and the class
    /// count, has no images (<see cref="Count"/> is 0), and every access to pixels or labels throws an
    /// <see cref="InvalidOperationException"/> that says why.
    /// </summary>
    /// <param name="height">Image height in pixels.</param>
    /// <param name="width">Image width in pixels.</param>
    /// <param name="classCount">The number of classes.</param>
    /// <param name="reason">Why the images are withheld, e.g. "data-free run 'dafl'"; it is in every exception.</param>
    /// <returns>The withheld dataset.</returns>
    public static ImageDataset Withheld(int height, int width, int classCount, string reason)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return new ImageDataset(ReadOnlyMemory<byte>.Empty, ReadOnlyMemory<byte>.Empty, height, width, classCount,
            $"training images withheld ({reason})", checkedLabels: true, reason);
    }

    /// <summary>Whether this is a <see cref="Withheld"/> training set (no image may be read).</summary>
    public bool IsWithheld => withheldReason is not null;

    /// <summary>The number of images.</summary>
    public int Count => labels.Length;

    /// <summary>Image height in pixels.</summary>
    public int Height { get; }

    /// <summary>Image width in pixels.</summary>
    public int Width { get; }

    /// <summary>Channels per image: always 1 (grey).</summary>
    public const int Channels = 1;

    /// <summary>The number of classes; every label is below it.</summary>
    public int ClassCount { get; }

    /// <summary>Pixels per image (height x width).</summary>
    public int PixelsPerImage => Height * Width;

    /// <summary>Where the data came from, e.g. a directory or "embedded subset (6000 train / 1000 test)".</summary>
    public string Source { get; }

    /// <summary>All pixels, <see cref="Count"/> x <see cref="Height"/> x <see cref="Width"/> bytes.</summary>
    public ReadOnlySpan<byte> Pixels => Readable().pixels.Span;

    /// <summary>All labels, one byte per image.</summary>
    public ReadOnlySpan<byte> Labels => Readable().labels.Span;

    /// <summary>
    /// Builds a dataset from an image IDX array ([N, rows, columns]) and a label IDX array ([N]) without copying them.
    /// </summary>
    /// <param name="images">The images.</param>
    /// <param name="labels">The labels.</param>
    /// <param name="classCount">The number of classes; each label must be below it.</param>
    /// <param name="source">Where the data came from.</param>
    /// <exception cref="InvalidDataException">
    /// The arrays have the wrong rank, different counts, or a label is out of range; the message names the file.
    /// </exception>
    public static ImageDataset FromIdx(IdxArray images, IdxArray labels, int classCount, string source)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(labels);
        if (images.Rank != 3)
            throw new InvalidDataException($"{images.Name}: wrong number of dimensions: images need 3 (count, rows, columns), got {images.Rank}.");
        if (labels.Rank != 1)
            throw new InvalidDataException($"{labels.Name}: wrong number of dimensions: labels need 1 (count), got {labels.Rank}.");
        if (images.Dimensions[0] != labels.Dimensions[0])
            throw new InvalidDataException(
                $"{images.Name}: image count {images.Dimensions[0]} does not equal the label count {labels.Dimensions[0]} in {labels.Name}.");
        if (images.Dimensions[1] == 0 || images.Dimensions[2] == 0)
            throw new InvalidDataException($"{images.Name}: images of {images.Dimensions[1]}x{images.Dimensions[2]} pixels are empty.");
        int bad = IndexOfLabelOutOfRange(labels.Data.Span, classCount);
        if (bad >= 0)
            throw new InvalidDataException(
                $"{labels.Name}: label {labels.Data.Span[bad]} at index {bad} is out of range 0..{classCount - 1}.");
        return new ImageDataset(images.Data, labels.Data, images.Dimensions[1], images.Dimensions[2], classCount, source, checkedLabels: true);
    }

    /// <summary>The pixels of one image, row-major.</summary>
    public ReadOnlySpan<byte> Image(int index)
    {
        Readable();
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return pixels.Span.Slice(index * PixelsPerImage, PixelsPerImage);
    }

    /// <summary>The label of one image.</summary>
    public int Label(int index) => Readable().labels.Span[index];

    /// <summary>How many images each class has (indexed by label).</summary>
    public int[] CountPerClass()
    {
        var counts = new int[ClassCount];
        foreach (byte y in Labels) counts[y]++;
        return counts;
    }

    /// <summary>A copy of the images at <paramref name="indices"/>, in that order.</summary>
    /// <param name="indices">Image indices; repeats are allowed.</param>
    /// <param name="source">The new dataset's <see cref="Source"/>.</param>
    public ImageDataset Subset(IReadOnlyList<int> indices, string source)
    {
        ArgumentNullException.ThrowIfNull(indices);
        Readable();
        int size = PixelsPerImage;
        var newPixels = new byte[(long)indices.Count * size];
        var newLabels = new byte[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Image(indices[i]).CopyTo(newPixels.AsSpan(i * size, size));
            newLabels[i] = labels.Span[indices[i]];
        }
        return new ImageDataset(newPixels, newLabels, Height, Width, ClassCount, source, checkedLabels: true);
    }

    /// <summary>Most augmented copies <see cref="WithAugmentedCopies"/> makes of each image.</summary>
    public const int MaxAugmentedCopies = 64;

    /// <summary>
    /// These images followed by <paramref name="copies"/> moved copies of each (a shift of up to
    /// <see cref="BatchOptions.CropPadding"/> pixels and a mirror, drawn once from <paramref name="seed"/> as the
    /// batcher's live augmentation draws them), labels kept. A fixed augmented set: its images can be given to a
    /// teacher once and its outputs cached, where live augmentation needs the teacher on every batch.
    /// </summary>
    /// <param name="copies">Moved copies per image, 1..<see cref="MaxAugmentedCopies"/>.</param>
    /// <param name="seed">Seed of the moves; copy k of every image draws from its own stream.</param>
    public ImageDataset WithAugmentedCopies(int copies, int seed)
    {
        if (copies < 1 || copies > MaxAugmentedCopies)
            throw new ArgumentOutOfRangeException(nameof(copies), copies, $"augmented copies must be 1..{MaxAugmentedCopies}.");
        Readable();
        int size = PixelsPerImage, n = Count;
        long total = (long)n * (copies + 1);
        if (total * size > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(copies), copies, $"{n} images with {copies} copies each exceed one array's {Array.MaxLength} bytes.");
        var newPixels = new byte[total * size];
        var newLabels = new byte[total];
        pixels.Span.CopyTo(newPixels);
        for (int k = 0; k <= copies; k++) labels.Span.CopyTo(newLabels.AsSpan(k * n, n));
        Span<byte> identity = stackalloc byte[256];
        for (int v = 0; v < 256; v++) identity[v] = (byte)v;
        const ImageAugmentation kind = ImageAugmentation.RandomCrop | ImageAugmentation.HorizontalFlip;
        for (int k = 1; k <= copies; k++)
        {
            SeededRandom random = SeededRandom.For(seed, k, stream: 2);
            // total * size fits one array (checked above), so every offset fits an int.
            for (int i = 0; i < n; i++)
                ImageMove.Draw(kind, random).Apply<byte>(Image(i), newPixels.AsSpan((k * n + i) * size, size), Height, Width, identity);
        }
        return new ImageDataset(newPixels, newLabels, Height, Width, ClassCount,
            $"{Source}, with {copies} shifted and mirrored copies of each image", checkedLabels: true);
    }

    /// <summary>
    /// A stratified sample: exactly <paramref name="perClass"/> images of every class, drawn without replacement by a
    /// seeded shuffle of each class's indices, then kept in their original order. The same seed gives the same
    /// sample on every platform.
    /// </summary>
    /// <param name="perClass">Images to take from each class.</param>
    /// <param name="seed">The shuffle seed.</param>
    /// <param name="source">The sample's <see cref="Source"/>.</param>
    /// <exception cref="ArgumentException">A class has fewer than <paramref name="perClass"/> images.</exception>
    public ImageDataset StratifiedSample(int perClass, int seed, string source) => Subset(StratifiedIndices(perClass, seed), source);

    /// <summary>
    /// This dataset split in two: <paramref name="perClass"/> images of every class held out (the same draw as
    /// <see cref="StratifiedSample"/> with that seed) and the rest, each in the original order.
    /// </summary>
    /// <param name="perClass">Images of each class to hold out.</param>
    /// <param name="seed">The shuffle seed.</param>
    /// <returns>The remaining images, and the held-out ones.</returns>
    /// <exception cref="ArgumentException">A class has no more than <paramref name="perClass"/> images.</exception>
    public (ImageDataset Remaining, ImageDataset HeldOut) SplitStratified(int perClass, int seed)
    {
        List<int> heldOut = StratifiedIndices(perClass, seed);
        if (CountPerClass().Min() <= perClass)
            throw new ArgumentException($"Holding out {perClass} images of every class would leave a class with none to train on.", nameof(perClass));
        var held = heldOut.ToHashSet();
        List<int> rest = [.. Enumerable.Range(0, Count).Where(i => !held.Contains(i))];
        return (Subset(rest, $"{Source}, without {heldOut.Count} held-out images"), Subset(heldOut, $"{Source}, {heldOut.Count} held-out images"));
    }

    private List<int> StratifiedIndices(int perClass, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(perClass);
        var byClass = new List<int>[ClassCount];
        for (int c = 0; c < ClassCount; c++) byClass[c] = [];
        ReadOnlySpan<byte> y = Labels;
        for (int i = 0; i < y.Length; i++) byClass[y[i]].Add(i);

        var random = new SeededRandom((ulong)(uint)seed);
        var chosen = new List<int>(perClass * ClassCount);
        for (int c = 0; c < ClassCount; c++)
        {
            if (byClass[c].Count < perClass)
                throw new ArgumentException($"Class {c} has {byClass[c].Count} images; {perClass} were asked for.", nameof(perClass));
            int[] members = [.. byClass[c]];
            random.Shuffle(members);
            chosen.AddRange(members.AsSpan(0, perClass));
        }
        // Original order keeps the classes interleaved as in the source file.
        chosen.Sort();
        return chosen;
    }

    /// <summary>This dataset, or an exception when its images are withheld.</summary>
    private ImageDataset Readable() => withheldReason is null
        ? this
        : throw new InvalidOperationException(
            $"The training images are withheld ({withheldReason}): a data-free run may not read them; only the test set is read, for evaluation.");

    private static int IndexOfLabelOutOfRange(ReadOnlySpan<byte> labels, int classCount)
    {
        for (int i = 0; i < labels.Length; i++)
        {
            if (labels[i] >= classCount) return i;
        }
        return -1;
    }
}
