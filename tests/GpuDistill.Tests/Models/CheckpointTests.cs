using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

[TestFixture]
public sealed class CheckpointTests
{
    private string directory = null!;

    [SetUp]
    public void MakeDirectory()
    {
        directory = Path.Combine(Path.GetTempPath(), "gpudistill-ckpt-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
    }

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(directory, recursive: true);

    [TestCase("teacher-cnn")]
    [TestCase("small-cnn")]
    [TestCase("mlp")]
    public void RoundTripRestoresOutputsExactly(string name)
    {
        string path = Path.Combine(directory, "sub", name + ".bin");
        using DistillModel saved = ModelFactory.Create(name, 1);
        using DistillModel loaded = ModelFactory.Create(name, 2);
        using var scope = NewDisposeScope();
        Tensor x = randn(6, 1, 28, 28);
        // A training pass moves the batch-norm running statistics away from their initial values, so the
        // round trip is seen to carry buffers as well as parameters.
        saved.train();
        saved.Forward(x);
        saved.eval();
        Tensor expected = saved.ForwardLogits(x);

        Checkpoint.SaveAtomic(saved, path);
        bool found = Checkpoint.TryLoad(loaded, path);
        loaded.eval();

        Assert.That(found, Is.True);
        Assert.That(TensorEquality.Identical(loaded.ForwardLogits(x), expected), Is.True);
        Assert.That(File.Exists(path + ".tmp"), Is.False, "no temporary file is left behind");
        Assert.That(Directory.GetFiles(Path.GetDirectoryName(path)!), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void SaveAtomicReplacesAnExistingCheckpointAndAStaleTemporary()
    {
        string path = Path.Combine(directory, "model.bin");
        File.WriteAllText(path, "old");
        File.WriteAllText(path + ".tmp", "left by a killed run");
        using DistillModel model = ModelFactory.Create("mlp", 1);

        Checkpoint.SaveAtomic(model, path);

        Assert.That(File.Exists(path + ".tmp"), Is.False);
        using DistillModel other = ModelFactory.Create("mlp", 9);
        Assert.That(Checkpoint.TryLoad(other, path), Is.True);
    }

    [Test]
    public void TryLoadReturnsFalseWhenTheFileIsAbsent()
    {
        using DistillModel model = ModelFactory.Create("mlp", 1);

        Assert.That(Checkpoint.TryLoad(model, Path.Combine(directory, "missing.bin")), Is.False);
    }

    [Test]
    public void GarbageFileThrowsNamingTheFile()
    {
        string path = Path.Combine(directory, "garbage.bin");
        File.WriteAllBytes(path, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 + 11)).ToArray());
        using DistillModel model = ModelFactory.Create("small-cnn", 1);

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(model, path))!;
        Assert.That(e.Message, Does.Contain(path));
    }

    [Test]
    public void EmptyFileThrowsNamingTheFile()
    {
        string path = Path.Combine(directory, "empty.bin");
        File.WriteAllBytes(path, []);
        using DistillModel model = ModelFactory.Create("small-cnn", 1);

        Assert.That(() => Checkpoint.TryLoad(model, path), Throws.TypeOf<InvalidDataException>().With.Message.Contains(path));
    }

    [Test]
    public void TruncatedFileThrowsAndLeavesTheModelAsItWas()
    {
        string path = Path.Combine(directory, "truncated.bin");
        using DistillModel source = ModelFactory.Create("small-cnn", 1);
        Checkpoint.SaveAtomic(source, path);
        byte[] bytes = File.ReadAllBytes(path);
        // Cut inside the last tensor, so the leading tensors would already have been overwritten.
        File.WriteAllBytes(path, bytes[..(bytes.Length - 20)]);
        using DistillModel target = ModelFactory.Create("small-cnn", 2);
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> before = target.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());

        Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(target, path));

        foreach ((string key, Tensor value) in target.state_dict())
            Assert.That(TensorEquality.Identical(value, before[key]), Is.True, key);
    }

    [Test]
    public void TrailingBytesAreRejected()
    {
        string path = Path.Combine(directory, "trailing.bin");
        using DistillModel model = ModelFactory.Create("mlp", 1);
        Checkpoint.SaveAtomic(model, path);
        File.AppendAllText(path, "extra");

        Assert.That(() => Checkpoint.TryLoad(model, path), Throws.TypeOf<InvalidDataException>().With.Message.Contains("5 unexpected bytes"));
    }

    [Test]
    public void CheckpointOfAnotherArchitectureIsRejected()
    {
        string path = Path.Combine(directory, "small.bin");
        using DistillModel small = ModelFactory.Create("small-cnn", 1);
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);
        Checkpoint.SaveAtomic(small, path);

        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.TryLoad(teacher, path))!;
        Assert.That(e.Message, Does.Contain(path).And.Contain("different architecture"));
    }
}
