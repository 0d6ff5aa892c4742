using GpuDistill.Methods;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>The trainer on a slice of the embedded data: learning, resuming, checkpoints that survive a kill.</summary>
public sealed class TrainerTests() : TrainingFixture(40, 20)
{

    [Test]
    public void ResumeContinuesFromTheLastCompletedEpoch()
    {
        WeightedLoss loss = WeightedLoss.ForMethod("none");
        string checkpoint = Path.Combine(RunDirectory, "run");
        using DistillModel first = ModelFactory.Create("mlp", 3);
        TrainingRun two = new Trainer(Options(2)).Fit("first", first, loss, Train, Test, null, checkpoint, resume: false);

        using DistillModel second = ModelFactory.Create("mlp", 99);
        TrainingRun three = new Trainer(Options(3)).Fit("second", second, loss, Train, Test, null, checkpoint, resume: true);

        Assert.That(three.Epochs, Has.Count.EqualTo(3));
        Assert.That(three.Epochs.Take(2).Select(e => e.TestAccuracy), Is.EqualTo(two.Epochs.Select(e => e.TestAccuracy)));
        Assert.That(Directory.GetFiles(checkpoint, "*.tmp"), Is.Empty);
        Assert.That(Directory.GetFiles(checkpoint, "epoch-*.pt").Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "epoch-3.model.pt", "epoch-3.optimizer.pt" }));
    }

    [Test]
    public void AFinishedRunIsNotTrainedAgain()
    {
        WeightedLoss loss = WeightedLoss.ForMethod("none");
        string checkpoint = Path.Combine(RunDirectory, "run");
        using DistillModel model = ModelFactory.Create("mlp", 3);
        TrainingRun done = new Trainer(Options(1)).Fit("a", model, loss, Train, Test, null, checkpoint, resume: false);
        using DistillModel again = ModelFactory.Create("mlp", 3);
        TrainingRun reloaded = new Trainer(Options(1)).Fit("a", again, loss, Train, Test, null, checkpoint, resume: true);
        Assert.That(reloaded.Epochs.Single().Seconds, Is.EqualTo(done.Epochs.Single().Seconds), "history comes from the checkpoint");
        Assert.That(Evaluation.Accuracy(again, Test), Is.EqualTo(done.FinalAccuracy), "weights come from the checkpoint");
    }

    [Test]
    public void DistillationNeverTouchesTheTeacher()
    {
        using DistillModel teacher = ModelFactory.Create("mlp", 5);
        new Trainer(Options(1)).Fit("teacher", teacher, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);
        foreach (var p in teacher.parameters()) p.grad = null; // as a teacher loaded from disk
        float[] before = teacher.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray();

        TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: false);
        using DistillModel student = ModelFactory.Create("mlp", 6);
        new Trainer(Options(1)).Fit("kd", student, WeightedLoss.ForMethod("kd"), Train, Test, outputs, null, false);

        Assert.Multiple(() =>
        {
            Assert.That(teacher.training, Is.False, "the teacher runs in eval mode");
            Assert.That(teacher.parameters().All(p => !p.requires_grad && p.grad is null), "the teacher gets no gradient");
            Assert.That(teacher.parameters().SelectMany(p => p.data<float>().ToArray()).ToArray(), Is.EqualTo(before));
        });
    }

    [Test]
    public void CachedAndLiveTeacherLogitsAgree()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        TeacherOutputs cached = TeacherOutputs.Create(teacher, Train, cache: true);
        TeacherOutputs live = TeacherOutputs.Create(teacher, Train, cache: false);
        foreach (ImageBatch batch in new ImageBatcher(Train, 64, new BatchOptions { Shuffle = true, Seed = 2 }).Epoch(0))
        {
            using (batch)
            {
                using var a = cached.Logits(batch);
                using var b = live.Logits(batch);
                Assert.That(a.allclose(b, rtol: 1e-5, atol: 1e-5), Is.True);
            }
        }
    }

    [Test]
    public void KDStudentLearns()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        new Trainer(Options(4)).Fit("teacher", teacher, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);
        using DistillModel student = ModelFactory.Create("mlp", 6);
        double before = Evaluation.Accuracy(student, Test);
        TrainingRun run = new Trainer(Options(4)).Fit("kd", student, WeightedLoss.ForMethod("kd"), Train, Test,
            TeacherOutputs.Create(teacher, Train, cache: true), null, false);
        Assert.That(run.FinalAccuracy, Is.GreaterThan(before + 0.2), $"accuracy {before:P1} -> {run.FinalAccuracy:P1}");
        Assert.That(run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "kd", "ce" }));
    }
}
