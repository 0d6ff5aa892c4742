using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

[TestFixture]
public sealed class ModelFactoryTests
{
    [Test]
    public void NamesAreTheArchitectures() =>
        Assert.That(ModelFactory.Names, Is.EquivalentTo(new[] { "teacher-cnn", "mid-cnn", "small-cnn", "mlp", "cnn-w12", "cnn-w24" }));

    [TestCase("teacher-cnn", typeof(TeacherCnn))]
    [TestCase("Teacher-CNN", typeof(TeacherCnn))]
    [TestCase("SMALL-CNN", typeof(SmallCnn))]
    [TestCase("Mlp", typeof(Mlp))]
    public void CreateIsCaseInsensitive(string name, Type expected)
    {
        using DistillModel model = ModelFactory.Create(name, 0);

        Assert.That(model, Is.InstanceOf(expected));
        Assert.That(model.Architecture, Is.EqualTo(name.ToLowerInvariant()));
        Assert.That(model.training, Is.True, "new models start in training mode, like TorchSharp modules");
    }

    [Test]
    public void UnknownNameListsTheValidOnes()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.Create("resnet18", 0))!;

        Assert.That(e.ParamName, Is.EqualTo("name"));
        Assert.That(e.Message, Does.Contain("resnet18"));
        foreach (string valid in ModelFactory.Names) Assert.That(e.Message, Does.Contain(valid));
    }

    [Test]
    public void ParameterCountsAreExact()
    {
        // conv weights (no bias) + two batch-norm vectors per conv + head, for widths a/b/c.
        static long Cnn(long a, long b, long c) =>
            9 * (1 * a + a * a + a * b + b * b + b * c + c * c) + 2 * 2 * (a + b + c) + c * 10 + 10;

        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 0);
        using DistillModel small = ModelFactory.Create("small-cnn", 0);
        using DistillModel mlp = ModelFactory.Create("mlp", 0);

        Assert.That(teacher.ParameterCount, Is.EqualTo(Cnn(32, 64, 128)).And.EqualTo(288_170));
        Assert.That(small.ParameterCount, Is.EqualTo(Cnn(8, 16, 32)).And.EqualTo(18_482));
        Assert.That(mlp.ParameterCount, Is.EqualTo(784 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10).And.EqualTo(55_050));
        double ratio = (double)teacher.ParameterCount / small.ParameterCount;
        Assert.That(ratio, Is.InRange(10, 20), "the small student should have 10-20x fewer parameters");
    }

    [Test]
    public void DescriptionsNameTheLayers()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 0);
        using DistillModel mlp = ModelFactory.Create("mlp", 0);

        Assert.That(teacher.Description, Does.Contain("32/64/128"));
        Assert.That(mlp.Description, Does.Contain("784-64-64-10"));
        Assert.That(teacher.ToString(), Does.StartWith("teacher-cnn").And.Contain("288,170"));
    }

    [TestCase("teacher-cnn")]
    [TestCase("small-cnn")]
    [TestCase("mlp")]
    public void SameSeedGivesTheSameModelAndOtherSeedsDiffer(string name)
    {
        using DistillModel a = ModelFactory.Create(name, 42);
        using DistillModel b = ModelFactory.Create(name, 42);
        using DistillModel c = ModelFactory.Create(name, 43);
        foreach (DistillModel m in new[] { a, b, c }) m.eval();
        using var scope = NewDisposeScope();
        manual_seed(7);
        Tensor x = randn(4, 1, 28, 28);

        Tensor la = a.ForwardLogits(x), lb = b.ForwardLogits(x), lc = c.ForwardLogits(x);

        Assert.That(TensorEquality.Identical(lb, la), Is.True, "same seed, same logits bit for bit");
        Assert.That(lc.allclose(la, rtol: 1e-3, atol: 1e-3), Is.False, "another seed gives other logits");
        foreach ((string key, Tensor value) in a.state_dict())
            Assert.That(TensorEquality.Identical(b.state_dict()[key], value), Is.True, key);
    }

    [Test]
    public void SeedingDoesNotDependOnTheGlobalGenerator()
    {
        manual_seed(1);
        using DistillModel a = ModelFactory.Create("small-cnn", 5);
        manual_seed(2);
        using DistillModel b = ModelFactory.Create("small-cnn", 5);

        foreach ((string key, Tensor value) in a.state_dict())
            Assert.That(TensorEquality.Identical(b.state_dict()[key], value), Is.True, key);
    }

    [Test]
    public void BornAgainStudentIsAnotherTeacherInstance()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);
        using DistillModel student = ModelFactory.Create("teacher-cnn", 2);

        Assert.That(student.state_dict().Keys, Is.EqualTo(teacher.state_dict().Keys));
        Assert.That(student.ParameterCount, Is.EqualTo(teacher.ParameterCount));
    }
}
