using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

[TestFixture]
public sealed class ModelShapeTests
{
    // Per architecture: pooled width and (name, shape without the batch dimension) of each feature, in order.
    private static readonly Dictionary<string, (long Pooled, (string Name, long[] Shape)[] Features)> Expected = new()
    {
        ["teacher-cnn"] = (128, [("stage1", [32, 14, 14]), ("stage2", [64, 7, 7]), ("stage3", [128, 7, 7])]),
        ["small-cnn"] = (32, [("stage1", [8, 14, 14]), ("stage2", [16, 7, 7]), ("stage3", [32, 7, 7])]),
        ["mid-cnn"] = (64, [("stage1", [16, 14, 14]), ("stage2", [32, 7, 7]), ("stage3", [64, 7, 7])]),
        ["mlp"] = (64, [("hidden1", [64]), ("hidden2", [64])]),
        ["cnn-w12"] = (48, [("stage1", [12, 14, 14]), ("stage2", [24, 7, 7]), ("stage3", [48, 7, 7])]),
        ["cnn-w24"] = (96, [("stage1", [24, 14, 14]), ("stage2", [48, 7, 7]), ("stage3", [96, 7, 7])]),
    };

    private static IEnumerable<TestCaseData> Cases() =>
        from name in ModelFactory.Names
        from batch in new[] { 1, 5 }
        from train in new[] { false, true }
        select new TestCaseData(name, batch, train);

    [TestCaseSource(nameof(Cases))]
    public void OutputShapesMatchTheContract(string name, int batch, bool train)
    {
        using DistillModel model = ModelFactory.Create(name, seed: 3);
        model.train(train);
        using var scope = NewDisposeScope();
        using Tensor x = randn(batch, 1, 28, 28);

        using ModelOutput output = model.Forward(x);

        (long pooled, (string Name, long[] Shape)[] features) = Expected[name];
        Assert.That(output.Logits.shape, Is.EqualTo(new long[] { batch, 10 }));
        Assert.That(output.Pooled.shape, Is.EqualTo(new long[] { batch, pooled }));
        Assert.That(model.EmbeddingSize, Is.EqualTo(pooled));
        Assert.That(output.FeatureNames, Is.EqualTo(features.Select(f => f.Name)));
        Assert.That(model.FeatureNames, Is.EqualTo(features.Select(f => f.Name)));
        foreach ((string featureName, long[] shape) in features)
            Assert.That(output.Feature(featureName).shape, Is.EqualTo(new long[] { batch }.Concat(shape)), featureName);
        Assert.That(output.Logits.isfinite().all().item<bool>(), Is.True);
    }

    [Test]
    public void StudentAndTeacherStagesAlignInNameAndSpatialSize()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);
        using DistillModel student = ModelFactory.Create("small-cnn", 2);
        using var scope = NewDisposeScope();
        using Tensor x = randn(2, 1, 28, 28);
        using ModelOutput t = teacher.Forward(x);
        using ModelOutput s = student.Forward(x);

        Assert.That(s.FeatureNames, Is.EqualTo(t.FeatureNames));
        foreach (string stage in t.FeatureNames)
            Assert.That(s.Feature(stage).shape[2..], Is.EqualTo(t.Feature(stage).shape[2..]), stage);
    }

    [Test]
    public void MlpAcceptsFlatAndImageInputsAlike()
    {
        using DistillModel model = ModelFactory.Create("mlp", 4);
        using var scope = NewDisposeScope();
        Tensor images = randn(3, 1, 28, 28);

        Tensor fromImages = model.ForwardLogits(images);
        Tensor fromFlat = model.ForwardLogits(images.reshape(3, 784));
        Tensor fromPlanes = model.ForwardLogits(images.reshape(3, 28, 28));

        Assert.That(TensorEquality.Identical(fromFlat, fromImages), Is.True);
        Assert.That(TensorEquality.Identical(fromPlanes, fromImages), Is.True);
    }

    [TestCase("teacher-cnn", new long[] { 2, 28, 28 })]
    [TestCase("teacher-cnn", new long[] { 2, 3, 28, 28 })]
    [TestCase("small-cnn", new long[] { 2, 1, 32, 32 })]
    [TestCase("small-cnn", new long[] { 0, 1, 28, 28 })]
    [TestCase("mlp", new long[] { 2, 2, 392 })]
    [TestCase("mlp", new long[] { 2, 783 })]
    public void WrongInputShapesAreRejectedWithTheShape(string name, long[] shape)
    {
        using DistillModel model = ModelFactory.Create(name, 1);
        using Tensor x = zeros(shape);

        var e = Assert.Throws<ArgumentException>(() => model.Forward(x).Dispose())!;
        Assert.That(e.Message, Does.Contain("[" + string.Join(", ", shape) + "]"));
        Assert.That(e.ParamName, Is.EqualTo("input"));
    }

    [Test]
    public void IntegerInputsAreRejected()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        using Tensor x = zeros([2, 1, 28, 28], ScalarType.Int64);

        Assert.That(() => model.Forward(x).Dispose(), Throws.ArgumentException.With.Message.Contains("floating-point"));
    }
}
