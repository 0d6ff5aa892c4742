using GpuDistill.Data;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// What the trainer takes besides a dataset and what it does when training breaks: a batch source of its own,
/// checkpointed with the models, and a run that diverges stopping at once, saying where, with its last checkpoint kept.
/// </summary>
public sealed class TrainerInputsTests() : TrainingFixture(20, 10)
{
    [Test]
    public void ALossTermThatTurnsNaNStopsTheRunNamingItAndKeepsTheLastCheckpoint()
    {
        string checkpoint = Path.Combine(RunDirectory, "run");
        using DistillModel model = ModelFactory.Create("mlp", 3);
        var loss = new WeightedLoss([(new CrossEntropyTerm(), 1.0), (new NaNFromEpoch(2), 1.0)]);
        var error = Assert.Throws<TrainingDivergedException>(() =>
            new Trainer(Options(3)).Fit("nan-run", model, loss, Train, Test, null, checkpoint, resume: false))!;
        Assert.Multiple(() =>
        {
            Assert.That(error.What, Is.EqualTo("loss term 'nan-from-2'"));
            Assert.That((error.Epoch, error.Step), Is.EqualTo((2, 1)));
            Assert.That(error.Message, Does.Contain("nan-run").And.Contain("epoch 2, step 1").And.Contain($"the checkpoint of epoch 1 in {checkpoint} is kept"));
            Assert.That(Directory.GetFiles(checkpoint, "epoch-*.pt").Select(Path.GetFileName),
                Is.EquivalentTo(new[] { "epoch-1.model.pt", "epoch-1.optimizer.pt" }));
        });

        // The kept checkpoint resumes: the same run without the failing term continues from epoch 2.
        using DistillModel again = ModelFactory.Create("mlp", 3);
        TrainingRun resumed = new Trainer(Options(3)).Fit("nan-run", again, WeightedLoss.ForMethod("none"), Train, Test, null,
            checkpoint, resume: true);
        Assert.That(resumed.Epochs, Has.Count.EqualTo(3));
    }

    [Test]
    public void StudentLogitsThatTurnNaNStopTheRun()
    {
        using DistillModel model = ModelFactory.Create("mlp", 3);
        var error = Assert.Throws<TrainingDivergedException>(() => new Trainer(Options(2) with { LearningRate = 1e30 })
            .Fit("huge-lr", model, WeightedLoss.ForMethod("none"), Train, Test, null, null, resume: false))!;
        Assert.That(error.Message, Does.Contain("huge-lr: training diverged").And.Contain("no checkpoint was written"));
    }

    [Test]
    public void ABatchSourceOfItsOwnFeedsTheRunAndIsCheckpointedWithIt()
    {
        string checkpoint = Path.Combine(RunDirectory, "run");
        var source = new CountingSource(new ImageBatcher(Train, 50));
        using DistillModel model = ModelFactory.Create("mlp", 3);
        new Trainer(Options(2), batches: source).Fit("source", model, WeightedLoss.ForMethod("none"), Train, Test, null, checkpoint, false);
        Assert.That(source.Epochs, Is.EqualTo(new[] { 0, 1 }));
        Assert.That(File.ReadAllText(Path.Combine(checkpoint, "epoch-2.source.count.pt")), Is.EqualTo("2"));

        var resumedSource = new CountingSource(new ImageBatcher(Train, 50));
        using DistillModel again = ModelFactory.Create("mlp", 3);
        new Trainer(Options(3), batches: resumedSource).Fit("source", again, WeightedLoss.ForMethod("none"), Train, Test, null, checkpoint, true);
        Assert.That(resumedSource.Restored, Is.EqualTo(2), "the source's state came back from the checkpoint");
        Assert.That(resumedSource.Epochs, Is.EqualTo(new[] { 2 }), "only the epoch left");
        Assert.That(Directory.GetFiles(checkpoint, "epoch-2.*"), Is.Empty, "the previous epoch's files are gone");
    }

    /// <summary>A term that is 0 until <paramref name="epoch"/> (1-based) and NaN from then on.</summary>
    private sealed class NaNFromEpoch(int epoch) : ILossTerm
    {
        public string Name => $"nan-from-{epoch}";

        public bool NeedsTeacher => false;

        public Tensor Compute(TermInputs inputs) =>
            inputs.Epoch + 1 >= epoch ? inputs.StudentLogits.sum() * float.NaN : inputs.StudentLogits.sum() * 0f;
    }

    /// <summary>The dataset's batches, counting the epochs asked for; its state is that count.</summary>
    private sealed class CountingSource(ImageBatcher batcher) : ICheckpointedSource
    {
        public List<int> Epochs { get; } = [];

        public int? Restored { get; private set; }

        public int BatchCount => batcher.BatchCount;

        public IEnumerable<ImageBatch> Epoch(int epoch)
        {
            Epochs.Add(epoch);
            return batcher.Epoch(epoch);
        }

        public IReadOnlyList<string> Save(string directory, string prefix)
        {
            string file = prefix + ".count.pt";
            File.WriteAllText(Path.Combine(directory, file), Epochs.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return [file];
        }

        public void Load(string directory, IReadOnlyList<string> files) =>
            Restored = int.Parse(File.ReadAllText(Path.Combine(directory, files.Single())), System.Globalization.CultureInfo.InvariantCulture);
    }
}
