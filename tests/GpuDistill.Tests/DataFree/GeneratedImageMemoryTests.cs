using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.DataFree;

/// <summary>The ring buffer of generated images: it keeps the newest, draws rows with their own logits, and survives a
/// save and load.</summary>
public sealed class GeneratedImageMemoryTests
{
    // Image i is one pixel of value i; its logits are (i, -i), so a draw shows which rows it came from.
    private static void AddValues(GeneratedImageMemory memory, params float[] values)
    {
        using Tensor images = tensor(values).reshape(values.Length, 1, 1, 1);
        using Tensor logits = stack([tensor(values), tensor(values).neg()], 1);
        memory.Add(images, logits);
    }

    private static SortedSet<float> Drawn(GeneratedImageMemory memory, int draws = 400)
    {
        using var random = new TorchSharp.torch.Generator(7);
        (Tensor images, Tensor logits) = memory.Sample(draws, random);
        using (images)
        using (logits)
        {
            float[] pixels = images.flatten().data<float>().ToArray();
            float[] first = logits.select(1, 0).data<float>().ToArray(), second = logits.select(1, 1).data<float>().ToArray();
            Assert.That(first, Is.EqualTo(pixels), "each drawn image comes with its own logits");
            Assert.That(second, Is.EqualTo(pixels.Select(p => -p)));
            return [.. pixels];
        }
    }

    [Test]
    public void ItKeepsTheNewestImagesAndWrapsAround()
    {
        using var memory = new GeneratedImageMemory(5, [1, 1, 1], 2);
        AddValues(memory, 0, 1, 2);
        Assert.That(memory.Count, Is.EqualTo(3));
        Assert.That(Drawn(memory), Is.EqualTo(new[] { 0f, 1, 2 }));
        AddValues(memory, 3, 4, 5);
        AddValues(memory, 6);
        Assert.That(memory.Count, Is.EqualTo(5));
        Assert.That(Drawn(memory), Is.EqualTo(new[] { 2f, 3, 4, 5, 6 }), "0 and 1, the oldest, were overwritten");
    }

    [Test]
    public void OfABatchLargerThanTheMemoryItKeepsTheLastImages()
    {
        using var memory = new GeneratedImageMemory(3, [1, 1, 1], 2);
        AddValues(memory, 9);
        AddValues(memory, 0, 1, 2, 3, 4, 5, 6);
        Assert.That(memory.Count, Is.EqualTo(3));
        Assert.That(Drawn(memory), Is.EqualTo(new[] { 4f, 5, 6 }));
    }

    [Test]
    public void SavingAndLoadingRestoresTheImagesAndTheRingsPosition()
    {
        using var memory = new GeneratedImageMemory(4, [1, 1, 1], 2);
        AddValues(memory, 0, 1, 2, 3, 4);
        using var stream = new MemoryStream();
        memory.Save(new BinaryWriter(stream));
        using var restored = new GeneratedImageMemory(4, [1, 1, 1], 2);
        stream.Position = 0;
        restored.Load(new BinaryReader(stream));
        Assert.That(restored.Count, Is.EqualTo(4));
        Assert.That(Drawn(restored), Is.EqualTo(new[] { 1f, 2, 3, 4 }));
        AddValues(restored, 5);
        Assert.That(Drawn(restored), Is.EqualTo(new[] { 2f, 3, 4, 5 }), "the next write overwrites the oldest, 1");

        using var other = new GeneratedImageMemory(8, [1, 1, 1], 2);
        stream.Position = 0;
        var error = Assert.Throws<InvalidDataException>(() => other.Load(new BinaryReader(stream)))!;
        Assert.That(error.Message, Does.Contain("holds 4 images").And.Contain("holds 8"));
    }

    [Test]
    public void BadShapesAndDrawsAreRefused()
    {
        using var memory = new GeneratedImageMemory(4, [1, 28, 28], 10);
        using Tensor images = zeros(2, 1, 28, 28), wrongImages = zeros(2, 1, 27, 28), logits = zeros(2, 10), wrongLogits = zeros(3, 10);
        using var random = new TorchSharp.torch.Generator(1);
        Assert.Multiple(() =>
        {
            Generic.ArgumentAssert.Rejects(() => memory.Add(wrongImages, logits), "batchImages", "[B, 1, 28, 28]");
            Generic.ArgumentAssert.Rejects(() => memory.Add(images, wrongLogits), "batchLogits", "expected [2, 10]");
            Assert.That(() => memory.Sample(1, random), Throws.InvalidOperationException.With.Message.Contains("empty"));
            Assert.That(() => new GeneratedImageMemory(0, [1, 28, 28], 10), Throws.TypeOf<ArgumentOutOfRangeException>());
        });
    }
}
