using GpuDistill.Data;

namespace GpuDistill.Tests.Data;

/// <summary>Each malformed input fails with an exception that names the file and the problem.</summary>
public sealed class IdxErrorTests
{
    // A path, not a TempDirectory, so the fixture holds nothing disposable between tests.
    private string root = "";

    [SetUp]
    public void SetUp() => root = Directory.CreateTempSubdirectory("gpudistill-tests-").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(root, recursive: true);

    [Test]
    public void MissingFile()
    {
        string path = PathOf("absent-idx3-ubyte.gz");
        var e = Assert.Throws<FileNotFoundException>(() => IdxReader.Read(path, 3));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("not found"));
        Assert.That(e!.FileName, Is.EqualTo(path));
    }

    [Test]
    public void MissingFileInDirectoryNamesTheStandardFile()
    {
        var e = Assert.Throws<FileNotFoundException>(() => FashionMnist.Load(root));
        Assert.That(e!.Message, Does.Contain(PathOf("train-images-idx3-ubyte.gz")).And.Contain("not found"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public void TruncatedData(bool gzip)
    {
        // Header promises 2 x 2 x 2 = 8 bytes; only 5 follow.
        string path = WriteRaw("short", [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4, 5], gzip);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("truncated").And.Contain("8 bytes").And.Contain("only 5"));
    }

    [Test]
    public void TruncatedHeader()
    {
        string path = WriteRaw("header", [0, 0, 8, 3, 0, 0, 0, 2, 0, 0], gzip: false);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("truncated"));
    }

    [Test]
    public void TruncatedGzipStream()
    {
        using var source = new TempDirectory();
        string whole = source.File("whole");
        IdxWriter.Write(whole, [100, 28, 28], RandomBytes(100 * 28 * 28), gzip: true);
        byte[] bytes = File.ReadAllBytes(whole);
        string path = PathOf("cut.gz");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("truncated"));
    }

    [Test]
    public void TrailingBytes()
    {
        string path = WriteRaw("long", [0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3], gzip: false);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 1));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("1 unexpected bytes"));
    }

    [TestCase(new byte[] { 0x50, 0x4B, 0x03, 0x04 }, TestName = "WrongMagic_Zip")]
    [TestCase(new byte[] { 0, 1, 8, 1 }, TestName = "WrongMagic_NonZeroSecondByte")]
    [TestCase(new byte[] { 0, 0, 0x0D, 1 }, TestName = "WrongMagic_FloatType")]
    public void WrongMagic(byte[] magic)
    {
        string path = WriteRaw("magic", [.. magic, 0, 0, 0, 1, 5], gzip: true);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 1));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("wrong magic"));
    }

    [Test]
    public void WrongNumberOfDimensions()
    {
        // A label file (1 dimension) read where images (3) are expected.
        string path = PathOf("labels");
        IdxWriter.Write(path, [4], [1, 2, 3, 4], gzip: false);
        var e = Assert.Throws<InvalidDataException>(() => IdxReader.Read(path, 3));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("wrong number of dimensions").And.Contain("says 1, expected 3"));
    }

    [Test]
    public void ImageCountNotEqualToLabelCount()
    {
        WriteSplit("train", images: 3, labels: [1, 2]);
        WriteSplit("t10k", images: 2, labels: [1, 2]);
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(root));
        Assert.That(e!.Message, Does.Contain(PathOf("train-images-idx3-ubyte.gz"))
            .And.Contain(PathOf("train-labels-idx1-ubyte.gz"))
            .And.Contain("image count 3 does not equal the label count 2"));
    }

    [Test]
    public void LabelOutOfRange()
    {
        WriteSplit("train", images: 3, labels: [1, 10, 2]);
        WriteSplit("t10k", images: 2, labels: [1, 2]);
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(root));
        Assert.That(e!.Message, Does.Contain(PathOf("train-labels-idx1-ubyte.gz"))
            .And.Contain("label 10 at index 1 is out of range 0..9"));
    }

    [Test]
    public void WrongImageSizeForFashionMnist()
    {
        string images = PathOf("train-images-idx3-ubyte");
        IdxWriter.Write(images, [1, 32, 32], new byte[32 * 32], gzip: false);
        IdxWriter.Write(PathOf("train-labels-idx1-ubyte"), [1], [0], gzip: false);
        var e = Assert.Throws<InvalidDataException>(() => FashionMnist.Load(root));
        Assert.That(e!.Message, Does.Contain(images).And.Contain("32x32"));
    }

    private void WriteSplit(string prefix, int images, byte[] labels)
    {
        IdxWriter.Write(PathOf($"{prefix}-images-idx3-ubyte.gz"), [images, 28, 28], new byte[images * 28 * 28], gzip: true);
        IdxWriter.Write(PathOf($"{prefix}-labels-idx1-ubyte.gz"), [labels.Length], labels, gzip: true);
    }

    private string WriteRaw(string name, byte[] bytes, bool gzip)
    {
        string path = PathOf(name);
        if (!gzip)
        {
            File.WriteAllBytes(path, bytes);
            return path;
        }
        using var file = File.Create(path);
        using var zip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Fastest);
        zip.Write(bytes);
        return path;
    }

    private string PathOf(string name) => Path.Combine(root, name);

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        new Random(1).NextBytes(bytes);
        return bytes;
    }
}
