using System.IO.Compression;
using GpuDistill.Data;

namespace GpuDistill.Tests.Data;

/// <summary>What IdxWriter writes, IdxReader reads back unchanged, gzipped or not.</summary>
public sealed class IdxRoundTripTests
{
    [TestCase(false)]
    [TestCase(true)]
    public void ImagesAndLabelsRoundTrip(bool gzip)
    {
        using var dir = new TempDirectory();
        byte[] pixels = Pattern(5 * 3 * 4);
        byte[] labels = [3, 0, 9, 1, 1];
        var dataset = new ImageDataset(pixels, labels, height: 3, width: 4, classCount: 10, source: "test pattern");
        string images = dir.File("images"), labelsPath = dir.File("labels");
        IdxWriter.WriteDataset(dataset, images, labelsPath, gzip);

        byte[] raw = File.ReadAllBytes(images);
        Assert.That(raw[0] == 0x1F && raw[1] == 0x8B, Is.EqualTo(gzip), "gzip magic present exactly when asked for");

        IdxArray readImages = IdxReader.Read(images, 3);
        IdxArray readLabels = IdxReader.Read(labelsPath, 1);
        Assert.That(readImages.Dimensions, Is.EqualTo(new[] { 5, 3, 4 }));
        Assert.That(readImages.Data.ToArray(), Is.EqualTo(pixels));
        Assert.That(readLabels.Dimensions, Is.EqualTo(new[] { 5 }));
        Assert.That(readLabels.Data.ToArray(), Is.EqualTo(labels));
        Assert.That(readImages.Name, Is.EqualTo(images));

        ImageDataset back = ImageDataset.FromIdx(readImages, readLabels, 10, "read back");
        Assert.That(back.Count, Is.EqualTo(5));
        Assert.That(back.Image(2).ToArray(), Is.EqualTo(pixels.AsSpan(24, 12).ToArray()));
        Assert.That(back.Label(2), Is.EqualTo(9));
    }

    [Test]
    public void HeaderIsStandardBigEndianIdx()
    {
        using var dir = new TempDirectory();
        string path = dir.File("a.idx");
        IdxWriter.Write(path, [2, 1, 300], Pattern(600), gzip: false);
        byte[] raw = File.ReadAllBytes(path);
        Assert.That(raw.AsSpan(0, 16).ToArray(),
            Is.EqualTo(new byte[] { 0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0x01, 0x2C }));
        Assert.That(raw.Length, Is.EqualTo(16 + 600));
    }

    [Test]
    public void GzipIsDetectedByContentNotByName()
    {
        using var dir = new TempDirectory();
        byte[] labels = [1, 2, 3];
        string gzippedNoSuffix = dir.File("labels-idx1-ubyte");
        string plainWithGzSuffix = dir.File("labels-idx1-ubyte.gz");
        IdxWriter.Write(gzippedNoSuffix, [3], labels, gzip: true);
        IdxWriter.Write(plainWithGzSuffix, [3], labels, gzip: false);

        Assert.That(IdxReader.Read(gzippedNoSuffix, 1).Data.ToArray(), Is.EqualTo(labels));
        Assert.That(IdxReader.Read(plainWithGzSuffix, 1).Data.ToArray(), Is.EqualTo(labels));
    }

    [Test]
    public void ReadsFromAStream()
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
            gzip.Write([0, 0, 8, 1, 0, 0, 0, 2, 7, 4]);
        buffer.Position = 0;
        IdxArray array = IdxReader.Read(buffer, "in-memory labels", 1);
        Assert.That(array.Data.ToArray(), Is.EqualTo(new byte[] { 7, 4 }));
        Assert.That(array.Name, Is.EqualTo("in-memory labels"));
    }

    [Test]
    public void EmptyArrayRoundTrips()
    {
        using var dir = new TempDirectory();
        string path = dir.File("empty");
        IdxWriter.Write(path, [0, 28, 28], [], gzip: true);
        IdxArray array = IdxReader.Read(path, 3);
        Assert.That(array.Dimensions, Is.EqualTo(new[] { 0, 28, 28 }));
        Assert.That(array.Data.Length, Is.Zero);
    }

    private static byte[] Pattern(int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)(i * 37 + 11);
        return bytes;
    }
}
