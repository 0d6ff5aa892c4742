using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>The trainer trains a <see cref="QuantizedModel"/> as any other student: distilled, checkpointed, resumed.</summary>
public sealed class QuantizedTrainingTests() : TrainingFixture(20, 10)
{
    [Test]
    public void TrainerDistilsAndResumesAQuantizedStudent()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: false);
        var options = new QuantizationOptions { WeightBits = 4, ActivationBits = 4 };
        string checkpoint = Path.Combine(RunDirectory, "quantized");

        using QuantizedModel student = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 6), options);
        TrainingRun one = new Trainer(Options(1)).Fit("q-kd", student, WeightedLoss.ForMethod("kd"),
            Train, Test, outputs, checkpoint, resume: false);

        using QuantizedModel again = QuantizedModel.Wrap(ModelFactory.Create("small-cnn", 99), options);
        TrainingRun resumed = new Trainer(Options(1)).Fit("q-kd", again, WeightedLoss.ForMethod("kd"),
            Train, Test, outputs, checkpoint, resume: true);
        Assert.That(Evaluation.Accuracy(again, Test), Is.EqualTo(one.FinalAccuracy), "weights and activation ranges come back from the checkpoint");
        Assert.That(again.ActivationOf("stage1.0"), Is.EqualTo(student.ActivationOf("stage1.0")));
        Assert.That(resumed.Epochs, Has.Count.EqualTo(1));
    }
}
