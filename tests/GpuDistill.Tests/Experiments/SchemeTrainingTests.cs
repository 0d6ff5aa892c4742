using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// The training schemes on one trainer: teachers stay frozen and in eval mode, online peers train and are evaluated
/// in turn, several learners checkpoint and resume together, and each scheme reports its rows.
/// </summary>
public sealed class SchemeTrainingTests() : TrainingFixture(20, 10)
{
    [Test]
    public void TheTeacherGetsNoGradientAndRunsInEvalModeWhileTheStudentTrains()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        Tensor[] before = [.. teacher.parameters().Select(p => p.detach().clone())];
        var teacherCalls = new List<(bool Training, bool Grad)>();
        var studentModes = new List<bool>();
        // Live outputs, so the teacher runs at every step.
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: false);
        _ = teacher.register_forward_hook((m, _, _) => { teacherCalls.Add((m.training, is_grad_enabled())); return null!; });
        _ = student.register_forward_hook((m, _, _) => { studentModes.Add(m.training); return null!; });

        new Trainer(Options(1)).Fit("kd", student, WeightedLoss.ForMethod("kd"), Train, Test, outputs, null, false);

        Assert.That(teacherCalls, Is.Not.Empty);
        Assert.That(teacherCalls.All(c => !c.Training && !c.Grad), Is.True, "the teacher runs in eval mode without autograd");
        Assert.That(teacher.parameters().All(p => p.grad is null && !p.requires_grad), Is.True, "no teacher parameter has a gradient");
        Assert.That(teacher.parameters().Zip(before).All(pair => Same(pair.First, pair.Second)), Is.True, "the teacher's weights did not move");
        // Training steps in train mode, then the epoch's test evaluation in eval mode.
        Assert.That(studentModes.First(), Is.True);
        Assert.That(studentModes.Last(), Is.False);
    }

    [Test]
    public void OnlinePeersEachTrainInTurnAndAreEvaluatedInEvalMode()
    {
        using DistillModel a = ModelFactory.Create("small-cnn", 11), b = ModelFactory.Create("small-cnn", 12);
        Tensor[] beforeA = [.. a.parameters().Select(p => p.detach().clone())];
        Tensor[] beforeB = [.. b.parameters().Select(p => p.detach().clone())];
        var modes = new List<(string Peer, bool Training)>();
        _ = a.register_forward_hook((m, _, _) => { modes.Add(("a", m.training)); return null!; });
        _ = b.register_forward_hook((m, _, _) => { modes.Add(("b", m.training)); return null!; });
        Learner[] learners = [new("dml/a", a, WeightedLoss.Parse(MutualLearningScheme.PeerLoss)),
            new("dml/b", b, WeightedLoss.Parse(MutualLearningScheme.PeerLoss))];

        IReadOnlyList<TrainingRun> runs = new Trainer(Options(1)).FitTogether(learners, Train, Test, null, null, false);

        Assert.That(runs.Select(r => r.Name), Is.EqualTo(new[] { "dml/a", "dml/b" }));
        Assert.That(runs.All(r => r.Epochs[0].Terms.ContainsKey("dml") && r.Epochs[0].Terms["dml"] > 0), Is.True, "each peer learns from the other");
        Assert.That(a.parameters().Zip(beforeA).Any(p => !Same(p.First, p.Second)), Is.True, "peer a was updated");
        Assert.That(b.parameters().Zip(beforeB).Any(p => !Same(p.First, p.Second)), Is.True, "peer b was updated");
        // Each step runs a then b in train mode; the evaluation runs each in eval mode.
        var training = modes.Where(m => m.Training).Select(m => m.Peer).ToList();
        Assert.That(training.Where((_, i) => i % 2 == 0).All(p => p == "a") && training.Where((_, i) => i % 2 == 1).All(p => p == "b"), Is.True);
        Assert.That(modes.Where(m => !m.Training).Select(m => m.Peer).Distinct(), Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public void PeersCheckpointTogetherAndResume()
    {
        string checkpoint = Path.Combine(RunDirectory, "dml");
        IReadOnlyList<TrainingRun> first = TrainPeers(1, checkpoint, resume: false);
        Assert.That(Directory.GetFiles(checkpoint, "epoch-*.pt").Select(Path.GetFileName), Is.EquivalentTo(new[]
        {
            "epoch-1.model.pt", "epoch-1.optimizer.pt", "epoch-1.peer1.model.pt", "epoch-1.peer1.optimizer.pt",
        }));
        IReadOnlyList<TrainingRun> resumed = TrainPeers(2, checkpoint, resume: true);
        Assert.That(resumed.Select(r => r.Epochs.Count), Is.EqualTo(new[] { 2, 2 }));
        Assert.That(resumed[1].Epochs[0].Seconds, Is.EqualTo(first[1].Epochs[0].Seconds), "the second peer's first epoch came from the checkpoint");
        Assert.That(resumed[1].Epochs[0].TrainLoss, Is.EqualTo(first[1].Epochs[0].TrainLoss));
        Assert.That(Directory.GetFiles(checkpoint, "epoch-1*"), Is.Empty, "the previous epoch's files are gone");
    }

    [Test]
    public void MutualLearningWithoutPeersSaysSo()
    {
        using DistillModel model = ModelFactory.Create("small-cnn", 3);
        var error = Assert.Throws<InvalidOperationException>(() => new Trainer(Options(1)).Fit("dml", model,
            WeightedLoss.Parse(MutualLearningScheme.PeerLoss), Train, Test, null, null, false))!;
        Assert.That(error.Message, Does.Contain("dml scheme"));
    }

    [TestCase("dml", new[] { "peer 1", "peer 2", "ensemble" })]
    [TestCase("byot", new[] { "exit 1", "exit 2", "exit 3, deepest" })]
    [TestCase("born-again", new[] { "gen 0, alone", "gen 1", "gen 2", "ensemble" })]
    [TestCase("takd", new[] { "assistant mid-cnn", "" })]
    [TestCase("multi-teacher", new[] { "teacher 2, mid-cnn alone", "2 teachers, confidence" })]
    public void EachSchemeReportsItsRows(string name, string[] roles)
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 50 }, Seeds = [1] };
        var context = new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, false, null, _ => { }, default);

        IReadOnlyList<SchemeRow> rows = MethodRegistry.Default.Scheme(name).Create(recipe.Settings[name]).Run(context, "small-cnn", 1);

        Assert.That(rows.Select(r => r.Role), Is.EqualTo(roles));
        Assert.That(rows.All(r => r.Run.FinalAccuracy is >= 0 and <= 1), Is.True);
        if (name == "byot")
        {
            Assert.That(rows.All(r => r.Note is not null && r.Note.Contains("ms per image", StringComparison.Ordinal)), Is.True);
            Assert.That(rows[0].Run.Parameters, Is.LessThan(rows[2].Run.Parameters), "a shallow exit is a smaller model");
        }
    }

    [Test]
    public void SettingsThatMakeAnotherRunCheckpointUnderTheirOwnName()
    {
        // Resuming into a folder that holds the default runs must not reuse them for other peers or another assistant.
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        var recipe = new Recipe
        {
            Training = new ScheduleSection { Epochs = 1, BatchSize = 50 },
            Seeds = [1],
            Settings = MethodSettingsMap.Defaults.Set("dml", "peers", "3").Set("takd", "assistant", "small-cnn"),
        };
        var context = new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, true, null, _ => { }, default);

        IReadOnlyList<SchemeRow> dml = MethodRegistry.Default.Scheme("dml").Create(recipe.Settings["dml"]).Run(context, "small-cnn", 1);
        MethodRegistry.Default.Scheme("takd").Create(recipe.Settings["takd"]).Run(context, "small-cnn", 1);

        string Checkpoints(string name) => Path.Combine(RunDirectory, "checkpoints", name, "small-cnn", "seed1");
        Assert.Multiple(() =>
        {
            Assert.That(dml.Select(r => r.Role), Is.EqualTo(new[] { "peer 1", "peer 2", "peer 3", "ensemble" }));
            Assert.That(Directory.Exists(Checkpoints("dml-3")), "three peers: dml-3");
            Assert.That(Directory.Exists(Checkpoints("dml")), Is.False);
            Assert.That(Directory.Exists(Checkpoints("takd-small-cnn")), "assistant small-cnn: takd-small-cnn");
            Assert.That(Directory.Exists(Checkpoints("takd")), Is.False);
        });
    }

    [Test]
    public void ARecipeWhoseSchemeCannotTrainAStudentIsRefusedBeforeAnythingTrains()
    {
        // BYOT's exits sit on feature maps; the MLP has vectors. Found only when BYOT reached the MLP, hours in, before.
        var recipe = new Recipe { Methods = [], Schemes = ["dml", "byot"], Students = ["small-cnn", "mlp"],
            Training = new ScheduleSection { Epochs = 1, BatchSize = 50 }, Seeds = [1] };
        var error = Assert.Throws<ArgumentException>(() => new Experiment(recipe, RunDirectory, null, _ => { }).Run(resume: false))!;
        Assert.That(error.Message, Does.Contain("byot").And.Contain("mlp's feature layers are not maps: fc1 [1, 64], fc2 [1, 64]"));
        Assert.That(error.Message, Does.Not.Contain("small-cnn's"));
        Assert.That(Directory.Exists(Path.Combine(RunDirectory, "teacher")), Is.False, "no teacher was trained");
        Assert.That(MethodRegistry.Default.Scheme("byot").Create(recipe.Settings["byot"]).CannotTrain("small-cnn"), Is.Null);
    }

    [Test]
    public void ASchemeRunResumedWithOtherSettingsIsRefusedNotReused()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 50 }, Seeds = [1] };
        IReadOnlyList<SchemeRow> Run(Recipe r, bool resume) => MethodRegistry.Default.Scheme("byot").Create(r.Settings["byot"])
            .Run(new SchemeContext(r, Train, Test, teacher, outputs, RunDirectory, resume, null, _ => { }, default), "small-cnn", 1);

        double first = Run(recipe, resume: false)[^1].Run.FinalAccuracy;
        Assert.That(Run(recipe, resume: true)[^1].Run.FinalAccuracy, Is.EqualTo(first), "the same run is reused");
        Recipe hotter = recipe with { Settings = recipe.Settings.Set("byot", "temperature", "5") };
        Assert.That(() => Run(hotter, resume: true), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("\"temperature\":3").And.Message.Contains("\"temperature\":5"));
    }

    private static bool Same(Tensor a, Tensor b) => a.eq(b).all().item<bool>();

    private IReadOnlyList<TrainingRun> TrainPeers(int epochs, string checkpoint, bool resume)
    {
        using DistillModel a = ModelFactory.Create("small-cnn", 11), b = ModelFactory.Create("small-cnn", 12);
        Learner[] learners = [new("dml/a", a, WeightedLoss.Parse(MutualLearningScheme.PeerLoss)),
            new("dml/b", b, WeightedLoss.Parse(MutualLearningScheme.PeerLoss))];
        return new Trainer(Options(epochs)).FitTogether(learners, Train, Test, null, checkpoint, resume);
    }
}
