using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>Training mode may change only what batch norm and dropout touch.</summary>
[TestFixture]
public sealed class TrainEvalModeTests
{
    private static bool Same(Tensor a, Tensor b) => TensorEquality.Identical(a, b);

    [Test]
    public void EvalModeIsDeterministicAndLeavesRunningStatisticsAlone()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);
        teacher.eval();
        using var scope = NewDisposeScope();
        Tensor x = randn(4, 1, 28, 28);
        Tensor meanBefore = teacher.state_dict()["stage1.1.running_mean"].clone();

        ModelOutput a = teacher.Forward(x);
        ModelOutput b = teacher.Forward(x);

        Assert.That(Same(a.Logits, b.Logits), Is.True);
        Assert.That(Same(teacher.state_dict()["stage1.1.running_mean"], meanBefore), Is.True);
    }

    [Test]
    public void TeacherDropoutChangesOnlyTheLogitsInTrainingMode()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 1);
        teacher.train();
        using var scope = NewDisposeScope();
        Tensor x = randn(8, 1, 28, 28);

        ModelOutput a = teacher.Forward(x);
        ModelOutput b = teacher.Forward(x);

        // Batch norm uses batch statistics in both passes, so the stages agree; dropout sits after pooling.
        foreach (string stage in teacher.FeatureNames)
            Assert.That(Same(a.Feature(stage), b.Feature(stage)), Is.True, stage);
        Assert.That(Same(a.Pooled, b.Pooled), Is.True);
        Assert.That(Same(a.Logits, b.Logits), Is.False, "dropout draws a new mask each pass");
    }

    [TestCase("teacher-cnn")]
    [TestCase("small-cnn")]
    public void BatchNormUsesBatchStatisticsInTrainingAndRunningOnesInEval(string name)
    {
        using DistillModel model = ModelFactory.Create(name, 1);
        using var scope = NewDisposeScope();
        Tensor x = randn(8, 1, 28, 28) * 3 + 1;

        model.train();
        Tensor trainStage1 = model.Forward(x).Feature("stage1");
        Tensor runningMean = model.state_dict()["stage1.1.running_mean"];
        Assert.That(runningMean.abs().sum().item<float>(), Is.GreaterThan(0), "a training pass updates the running mean");
        model.eval();
        Tensor evalStage1 = model.Forward(x).Feature("stage1");

        Assert.That(Same(trainStage1, evalStage1), Is.False);
    }

    [Test]
    public void SmallCnnIsDeterministicInTrainingModeBecauseItHasNoDropout()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 1);
        model.train();
        using var scope = NewDisposeScope();
        Tensor x = randn(8, 1, 28, 28);

        Assert.That(Same(model.ForwardLogits(x), model.ForwardLogits(x)), Is.True);
    }

    [Test]
    public void MlpComputesTheSameInBothModes()
    {
        using DistillModel model = ModelFactory.Create("mlp", 1);
        using var scope = NewDisposeScope();
        Tensor x = randn(8, 784);

        model.train();
        ModelOutput train = model.Forward(x);
        model.eval();
        ModelOutput eval = model.Forward(x);

        Assert.That(Same(train.Logits, eval.Logits), Is.True);
        Assert.That(Same(train.Feature("hidden1"), eval.Feature("hidden1")), Is.True);
    }
}
