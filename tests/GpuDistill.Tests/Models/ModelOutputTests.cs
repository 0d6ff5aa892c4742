using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

[TestFixture]
public sealed class ModelOutputTests
{
    [Test]
    public void UnknownFeatureNameListsTheKnownOnes()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        using Tensor x = randn(1, 1, 28, 28);
        using ModelOutput output = model.Forward(x);

        var e = Assert.Throws<KeyNotFoundException>(() => output.Feature("stage4"))!;
        Assert.That(e.Message, Does.Contain("stage4").And.Contain("stage1, stage2, stage3"));
        Assert.That(output.TryGetFeature("stage4", out _), Is.False);
        Assert.That(output.TryGetFeature("stage2", out Tensor? stage2), Is.True);
        Assert.That(stage2!.shape, Is.EqualTo(new long[] { 1, 16, 7, 7 }));
    }

    [Test]
    public void DisposeFreesEveryTensorOnceEvenWhenShared()
    {
        using DistillModel model = ModelFactory.Create("mlp", 1);
        using Tensor x = randn(2, 784);
        ModelOutput output = model.Forward(x);
        Assert.That(output.Pooled, Is.SameAs(output.Feature("hidden2")), "the MLP's embedding is its last hidden layer");

        output.Dispose();

        Assert.That(output.Logits.IsInvalid, Is.True);
        Assert.That(output.Pooled.IsInvalid, Is.True);
        Assert.That(output.Features.All(f => f.Value.IsInvalid), Is.True);
    }

    [Test]
    public void ForwardLogitsFreesTheFeaturesAndKeepsTheLogits()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        model.eval();
        using Tensor x = randn(3, 1, 28, 28);
        using ModelOutput full = model.Forward(x);

        using Tensor logits = model.ForwardLogits(x);

        Assert.That(logits.IsInvalid, Is.False);
        Assert.That(TensorEquality.Identical(logits, full.Logits), Is.True);
    }

    [Test]
    public void OutputsCanOutliveTheirDisposeScope()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        using Tensor x = randn(2, 1, 28, 28);
        ModelOutput kept;
        ModelOutput dropped;
        using (NewDisposeScope())
        {
            kept = model.Forward(x).MoveToOuterDisposeScope();
            dropped = model.Forward(x);
        }

        Assert.That(dropped.Logits.IsInvalid, Is.True, "tensors made in a scope die with it");
        Assert.That(kept.Logits.IsInvalid || kept.Features.Any(f => f.Value.IsInvalid), Is.False);
        kept.Dispose();
    }

    [Test]
    public void LogitsModuleSharesTheModel()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        var view = model.AsLogitsModule();
        using Tensor x = randn(2, 1, 28, 28);

        view.eval();
        using Tensor viaView = view.call(x);
        using Tensor direct = model.ForwardLogits(x);

        Assert.That(model.training, Is.False, "eval() on the view reaches the model");
        Assert.That(TensorEquality.Identical(viaView, direct), Is.True);
        Assert.That(view.parameters().Sum(p => p.numel()), Is.EqualTo(model.ParameterCount));
    }

    [Test]
    public void ConstructorRejectsDuplicateFeatureNames()
    {
        using Tensor logits = zeros(2, 10);
        using Tensor pooled = zeros(2, 4);

        Assert.That(() => new ModelOutput(logits, pooled, [new("a", pooled), new("a", pooled)]),
            Throws.ArgumentException.With.Message.Contains("'a' appears twice"));
        Assert.That(() => new ModelOutput(logits, zeros(3, 4), []),
            Throws.ArgumentException.With.Message.Contains("pooled"));
    }
}
