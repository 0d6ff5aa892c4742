using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Tests.Data;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>The DCGAN-style generator: shapes, value ranges, conditioning, seeding, checkpoints, gradients, bad input.</summary>
public sealed class ImageGeneratorTests
{
    [TestCase(1)]
    [TestCase(5)]
    public void MakesImagesOfTheTeachersShapeInTheNormalisedPixelRange(int batch)
    {
        using var scope = NewDisposeScope();
        using var generator = new ImageGenerator(seed: 1);
        Tensor images = generator.Generate(generator.SampleLatent(batch));
        Assert.That(images.shape, Is.EqualTo(new long[] { batch, 1, 28, 28 }));
        // tanh mapped onto pixels [0, 1], then normalised as the loader normalises real images.
        double low = (0 - FashionMnist.Mean) / FashionMnist.Std, high = (1 - FashionMnist.Mean) / FashionMnist.Std;
        Assert.That(images.min().item<float>(), Is.GreaterThanOrEqualTo(low - 1e-5));
        Assert.That(images.max().item<float>(), Is.LessThanOrEqualTo(high + 1e-5));
    }

    [Test]
    public void BatchNormalizedOutputHasZeroMeanAndUnitVariancePerBatch()
    {
        using var scope = NewDisposeScope();
        using var generator = new ImageGenerator(seed: 2, output: GeneratorOutput.BatchNormalized);
        Tensor images = generator.Generate(generator.SampleLatent(16));
        Assert.That(images.mean().item<float>(), Is.EqualTo(0).Within(1e-4));
        Assert.That(images.var(unbiased: false).item<float>(), Is.EqualTo(1).Within(1e-3));
    }

    [Test]
    public void HasDaflsLayout()
    {
        using var generator = new ImageGenerator(seed: 3);
        var norms = generator.modules().OfType<BatchNormalization2d>().ToList();
        Assert.That(norms, Has.Count.EqualTo(3));
        Assert.That(norms.Count(n => n.Epsilon == ImageGenerator.InnerBatchNormEpsilon), Is.EqualTo(2), "the inner norms take eps 0.8");
        Assert.That(generator.LatentSize, Is.EqualTo(100));
    }

    [Test]
    public void SameSeedSameImagesOtherSeedOtherImages()
    {
        using var scope = NewDisposeScope();
        using var a = new ImageGenerator(seed: 4);
        using var b = new ImageGenerator(seed: 4);
        using var c = new ImageGenerator(seed: 5);
        foreach (var g in new[] { a, b, c }) g.eval();
        Tensor z = randn(3, 100);
        Assert.That(a.Generate(z).eq(b.Generate(z)).all().item<bool>(), Is.True);
        Assert.That(a.Generate(z).eq(c.Generate(z)).all().item<bool>(), Is.False);
    }

    [Test]
    public void ConditionalGeneratorDependsOnTheLabel()
    {
        using var scope = NewDisposeScope();
        using var generator = new ImageGenerator(seed: 6, classes: 10);
        generator.eval();
        Tensor z = randn(1, 100).expand(2, 100);
        Tensor images = generator.Generate(z, tensor(new long[] { 2, 7 }));
        Assert.That(images.shape, Is.EqualTo(new long[] { 2, 1, 28, 28 }));
        Assert.That(images[0].eq(images[1]).all().item<bool>(), Is.False);
        Assert.That(generator.IsConditional, Is.True);
    }

    [TestCase(0)]
    [TestCase(10)]
    public void CheckpointRoundTripRestoresTheImages(int classes)
    {
        using var directory = new TempDirectory();
        using var scope = NewDisposeScope();
        using var saved = new ImageGenerator(seed: 7, classes: classes);
        using var loaded = new ImageGenerator(seed: 8, classes: classes);
        Tensor z = randn(4, 100);
        Tensor? labels = classes > 0 ? tensor(new long[] { 0, 3, 9, 3 }) : null;
        saved.Generate(z, labels); // a training pass moves the running statistics
        saved.eval();
        loaded.eval();
        Checkpoint.SaveAtomic(saved, directory.File("generator.bin"));
        Assert.That(Checkpoint.TryLoad(loaded, directory.File("generator.bin")), Is.True);
        Assert.That(loaded.Generate(z, labels).eq(saved.Generate(z, labels)).all().item<bool>(), Is.True);
    }

    [Test]
    public void ACheckpointOfAnotherLayoutIsRefused()
    {
        using var directory = new TempDirectory();
        using var conditional = new ImageGenerator(seed: 9, classes: 10);
        using var unconditional = new ImageGenerator(seed: 9);
        Checkpoint.SaveAtomic(conditional, directory.File("generator.bin"));
        Assert.That(() => Checkpoint.TryLoad(unconditional, directory.File("generator.bin")), Throws.TypeOf<InvalidDataException>());
    }

    [Test]
    public void LearnsThroughAFrozenTeacher()
    {
        // The data-free case: the teacher's weights stay frozen, the gradient reaches the generator through its input.
        using var scope = NewDisposeScope();
        using var teacher = new SmallCnn(seed: 1);
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad_(false);
        using var generator = new ImageGenerator(seed: 10);
        generator.RequireFits(teacher);
        Tensor logits = teacher.ForwardLogits(generator.Generate(generator.SampleLatent(4)));
        GpuDistill.Losses.DaflOneHot(logits).backward();
        foreach ((string name, var p) in generator.named_parameters())
            Assert.That(p.grad is not null && p.grad.isfinite().all().item<bool>(), Is.True, name);
        Assert.That(generator.parameters().Any(p => p.grad!.abs().sum().item<float>() > 0), Is.True);
        Assert.That(teacher.parameters().All(p => p.grad is null), Is.True);
    }

    [Test]
    public void AGeneratorOfAnotherImageShapeDoesNotFitTheTeacher()
    {
        using var teacher = new SmallCnn(seed: 1);
        using var generator = new ImageGenerator(seed: 11, imageSize: 32);
        var error = Assert.Throws<ArgumentException>(() => generator.RequireFits(teacher));
        Assert.That(error!.Message, Does.Contain("[1, 32, 32]").And.Contain("[1, 28, 28]").And.Contain("small-cnn"));
        ArgumentAssert.Rejects(() => new ImageGenerator(seed: 1).RequireFits([3, 28, 28]), "inputShape", "[3, 28, 28]");
        Assert.That(() => new ImageGenerator(seed: 1, imageSize: 32).RequireFits([1, 32, 32]), Throws.Nothing);
    }

    [Test]
    public void BadInputIsRejected()
    {
        using var scope = NewDisposeScope();
        using var plain = new ImageGenerator(seed: 12);
        using var conditional = new ImageGenerator(seed: 12, classes: 10);
        Assert.Multiple(() =>
        {
            ArgumentAssert.Rejects(() => plain.Generate(randn(2, 64)), "latent", "[B, 100]");
            ArgumentAssert.Rejects(() => plain.Generate(randn(2, 100), tensor(new long[] { 1, 2 })), "labels", "unconditional");
            ArgumentAssert.Rejects(() => conditional.Generate(randn(2, 100)), "labels", "conditional");
            ArgumentAssert.Rejects(() => conditional.Generate(randn(2, 100), tensor(new long[] { 1, 10 })), "labels", "outside [0, 10)");
            ArgumentAssert.Rejects(() => conditional.Generate(randn(2, 100), tensor(new long[] { 1 })), "labels", "shape [2]");
            Assert.That(() => new ImageGenerator(seed: 1, imageSize: 30), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new ImageGenerator(seed: 1, latentSize: 0), Throws.TypeOf<ArgumentOutOfRangeException>());
            Assert.That(() => new ImageGenerator(seed: 1, output: (GeneratorOutput)5), Throws.TypeOf<ArgumentOutOfRangeException>());
        });
    }
}
