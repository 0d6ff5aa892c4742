using GpuDistill.Methods;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>Feature terms in the trainer: teacher layers cached or live, learned adapters trained, saved and resumed.</summary>
public sealed class FeatureTrainingTests() : TrainingFixture(20, 10)
{

    [Test]
    public void CachedAndLiveTeacherLayersAgree()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        string[] layers = ["stage1", "stage3", "head:in"];
        using TeacherOutputs cached = TeacherOutputs.Create(teacher, Train, cache: true, layers);
        using TeacherOutputs live = TeacherOutputs.Create(teacher, Train, cache: false, layers);
        Assert.That(cached.IsCached && !live.IsCached);
        Assert.That(cached.IsComputed, Is.False, "the teacher runs over the training set at the first batch asked for, not before");
        Assert.That(cached.FeatureShapes["stage1"], Is.EqualTo(new long[] { 1, 32, 14, 14 }));
        Assert.That(cached.FeatureShapes["head:in"], Is.EqualTo(new long[] { 1, 128 }));
        foreach (ImageBatch batch in new ImageBatcher(Train, 64, new BatchOptions { Shuffle = true, Seed = 2 }).Epoch(0))
        {
            using (batch)
            using (var scope = TorchSharp.torch.NewDisposeScope())
            {
                TeacherBatch a = cached.Get(batch), b = live.Get(batch);
                foreach (string layer in layers)
                    Assert.That(a.Features[layer].allclose(b.Features[layer], rtol: 1e-4, atol: 1e-5), Is.True, layer);
            }
        }
        Assert.That(cached.IsComputed, Is.True);
    }

    [Test]
    public void TeacherOutputsFallBackToLiveBeyondTheBudget()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1"], cacheBudgetBytes: 1000);
        Assert.That(outputs.IsCached, Is.False);
    }

    [Test]
    public void FitNetsTrainsItsRegressorWithTheStudentAndResumesIt()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage2"]);
        WeightedLoss loss = WeightedLoss.ForMethod("fitnets");
        string checkpoint = Path.Combine(RunDirectory, "run");
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        TrainingRun run = new Trainer(Options(2)).Fit("fitnets", student, loss, Train, Test, outputs, checkpoint, resume: false);

        // The regressor maps the small CNN's stage2 (16 channels) to the teacher's (64): a 1x1 conv with bias, then BN.
        Assert.That(run.AdapterParameters, Is.EqualTo(16 * 64 + 64 + 2 * 64));
        Assert.That(run.Parameters, Is.EqualTo(student.ParameterCount), "the adapter is not counted in the student");
        Assert.That(run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "fitnets", "ce" }));
        Assert.That(run.Epochs[1].Terms["fitnets"], Is.LessThan(run.Epochs[0].Terms["fitnets"]), "the hint loss falls");
        Assert.That(Directory.GetFiles(checkpoint, "epoch-*.pt").Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "epoch-2.model.pt", "epoch-2.optimizer.pt", "epoch-2.adapters.pt" }));

        using DistillModel again = ModelFactory.Create("small-cnn", 3);
        TrainingRun resumed = new Trainer(Options(3)).Fit("fitnets", again, WeightedLoss.ForMethod("fitnets"),
            Train, Test, outputs, checkpoint, resume: true);
        Assert.That(resumed.Epochs, Has.Count.EqualTo(3));
        Assert.That(resumed.Epochs[2].Terms["fitnets"], Is.LessThan(run.Epochs[0].Terms["fitnets"]), "the resumed regressor is the trained one");
    }

    [Test]
    public void AFeatureTermOnATeacherWithoutThoseLayersSaysWhich()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var error = Assert.Throws<ArgumentException>(() => new Trainer(Options(1)).Fit("fitnets", student,
            WeightedLoss.ForMethod("fitnets"), Train, Test, outputs, null, false))!;
        Assert.That(error.Message, Does.Contain("stage2"));
    }

    [Test]
    public void AWrongStudentLayerIsNamed()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage2"]);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var settings = MethodSettingsMap.Defaults.WithLayers(["stage9"], ["stage2"]);
        var error = Assert.Throws<ArgumentException>(() => new Trainer(Options(1)).Fit("fitnets", student,
            WeightedLoss.ForMethod("fitnets", settings), Train, Test, outputs, null, false))!;
        Assert.That(error.Message, Does.Contain("stage9").And.Contain("stage1"));
    }
}
