using GpuDistill.Data;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Training;

/// <summary>
/// MHGD in training: the teacher stage fits the attention networks (its loss falls) and freezes them, the trainer
/// runs it once before the first epoch and not on resume, the student trains with the graph loss, and bad input is
/// named.
/// </summary>
public sealed class MultiHeadGraphTrainingTests() : TrainingFixture(20, 10)
{
    [Test]
    public void TheEstimatorLearnsAFixedSyntheticRelation()
    {
        // Layer 2's vectors are a fixed function of layer 1's: the estimator can only predict them through the graphs.
        manual_seed(11);
        using var network = new MultiHeadGraphNetwork([4, 6], [5, 7], 4);
        using var scope = NewDisposeScope();
        Tensor previous = nn.functional.normalize(rand(400, 5), p: 2, dim: 1);
        Tensor mixing = randn(7, 5);
        Tensor current = nn.functional.normalize(nn.functional.relu(previous.mm(mixing.t())).add(0.05), p: 2, dim: 1);
        network.SetGraphsTrainable(true);
        var optimizer = new NesterovSgd(network.GraphParameters(), 0.1, 0.9, 1e-3);
        var losses = new List<double>();
        for (int epoch = 0; epoch < 30; epoch++)
        {
            double sum = 0;
            for (int start = 0; start < 400; start += 50)
            {
                using var step = NewDisposeScope();
                Tensor loss = network.FitLoss([previous[start..(start + 50)], current[start..(start + 50)]]);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                sum += loss.item<float>() / 8;
            }
            losses.Add(sum);
        }
        TestContext.Out.WriteLine($"fit loss by epoch: {string.Join(", ", losses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.That(losses[^1], Is.LessThan(losses[0] / 2), "the fitting loss falls by more than half");
    }

    [Test]
    public void TheStageFitsOnTheTeacherAloneThenFreezes()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var term = new MultiHeadGraphTerm(new MultiHeadGraphSettings { StageEpochs = 6 });
        term.Bind(student, teacher);
        Assert.That(term.StudentLayers, Is.EqualTo(new[] { "stage1", "stage2", "stage3" }));
        term.BuildAdapter(StudentShapes(), outputs.FeatureShapes, 3);
        MultiHeadGraphNetwork network = term.Network!;
        Assert.That(network.Graphs.Select(g => (g.PreviousWidth, g.CurrentWidth, g.HeadWidth)),
            Is.EqualTo(new[] { (32L, 64L, 48L), (64L, 128L, 96L) }), "sized by the teacher's widths 32/64/128");
        Assert.That(network.Maps.Select(m => m!.weight!.shape), Is.EqualTo(new[] { new long[] { 32, 8 }, [64, 16], [128, 32] }));
        Assert.That(network.GraphParameters().All(p => !p.requires_grad), "frozen until the stage");
        Tensor[] studentBefore = [.. student.parameters().Select(p => p.detach().clone())];

        var batcher = new ImageBatcher(Train, 50, new BatchOptions { Shuffle = true, Seed = 3 });
        var reports = new List<TrainingProgress>();
        term.Prepare(new TermPreparation(outputs, batcher.Epoch, batcher.BatchCount, 3, "test", new Recorder(reports), RunDirectory));

        MultiHeadGraphStageReport stage = term.LastStage!;
        TestContext.Out.WriteLine($"stage: {stage.Seconds:F2} s, losses {string.Join(", ", stage.EpochLosses.Select(l => l.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)))}");
        Assert.That(stage.EpochLosses, Has.Count.EqualTo(6));
        Assert.That(stage.Steps, Is.EqualTo(6 * 4));
        Assert.That(stage.FinalLoss, Is.LessThan(stage.EpochLosses[0] * 0.95), "the fitting loss falls (24 steps; the synthetic test shows a full fit)");
        Assert.That(network.IsFitted);
        Assert.That(network.GraphParameters().All(p => !p.requires_grad), "frozen after the stage");
        Assert.That(student.parameters().Zip(studentBefore).All(pair => pair.First.eq(pair.Second).all().item<bool>()), "the student is untouched");
        Assert.That(reports.Last().Terms["mha"], Is.EqualTo(stage.FinalLoss));
        Assert.That(File.ReadAllText(Path.Combine(RunDirectory, MultiHeadGraphTerm.StageFile)), Does.Contain("epochLosses"));
    }

    [Test]
    public void TheStudentsOptimiserMovesTheMapsButNotTheFrozenGraphs()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        WeightedLoss loss = WeightedLoss.ForMethod("mhgd");
        MultiHeadGraphTerm term = loss.Terms.Select(t => t.Term).OfType<MultiHeadGraphTerm>().Single();
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var frozen = new List<Tensor>();
        var progress = new Recorder(null, report =>
        {
            // The first report of the student's epochs: the stage is done and no student step has run yet.
            if (frozen.Count == 0 && !report.Run.Contains("mhgd-stage", StringComparison.Ordinal))
                frozen.AddRange(term.Network!.Graphs.SelectMany(g => g.parameters().Concat(g.buffers())).Select(t => t.detach().clone()));
        });
        Tensor[]? mapsBefore = null;
        new Trainer(Options(1) with { Epochs = 2 }, new Recorder(null, report =>
        {
            if (mapsBefore is null && report.Run.Contains("mhgd-stage", StringComparison.Ordinal))
                mapsBefore = [.. term.Network!.Maps.Select(m => m!.weight!.detach().clone())];
            progress.Report(report);
        })).Fit("mhgd", student, loss, Train, Test, outputs, null, false);

        Tensor[] after = [.. term.Network!.Graphs.SelectMany(g => g.parameters().Concat(g.buffers()))];
        Assert.That(frozen, Is.Not.Empty);
        Assert.That(after.Zip(frozen).All(pair => pair.First.eq(pair.Second).all().item<bool>()), "weights and running statistics of the graphs stay as fitted");
        Assert.That(term.Network.Maps.Zip(mapsBefore!).Any(pair => !pair.First!.weight!.eq(pair.Second).all().item<bool>()), "the width maps train with the student");
    }

    [Test]
    public void TrainsEndToEndAndTheStageIsSkippedOnResume()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        string checkpoint = Path.Combine(RunDirectory, "run");
        WeightedLoss loss = WeightedLoss.ForMethod("mhgd");
        Assert.That(loss.ToString(), Is.EqualTo("mhgd:1,ce:1"));
        MultiHeadGraphTerm term = loss.Terms.Select(t => t.Term).OfType<MultiHeadGraphTerm>().Single();
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        TrainingRun run = new Trainer(Options(2)).Fit("mhgd", student, loss, Train, Test, outputs, checkpoint, resume: false);

        Assert.That(term.LastStage, Is.Not.Null, "the stage ran");
        Assert.That(run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "mhgd", "ce" }));
        Assert.That(run.Epochs.All(e => double.IsFinite(e.Terms["mhgd"]) && e.Terms["mhgd"] > 0));
        Assert.That(run.AdapterParameters, Is.EqualTo(term.Network!.parameters().Sum(p => p.numel())));
        Assert.That(Directory.GetFiles(checkpoint).Select(Path.GetFileName), Does.Contain("epoch-2.adapters.pt").And.Contain(MultiHeadGraphTerm.StageFile));
        DateTime stageWritten = File.GetLastWriteTimeUtc(Path.Combine(checkpoint, MultiHeadGraphTerm.StageFile));

        WeightedLoss again = WeightedLoss.ForMethod("mhgd");
        MultiHeadGraphTerm resumedTerm = again.Terms.Select(t => t.Term).OfType<MultiHeadGraphTerm>().Single();
        using DistillModel resumedStudent = ModelFactory.Create("small-cnn", 3);
        TrainingRun resumed = new Trainer(Options(3)).Fit("mhgd", resumedStudent, again, Train, Test, outputs, checkpoint, resume: true);

        Assert.That(resumed.Epochs, Has.Count.EqualTo(3));
        Assert.That(resumedTerm.LastStage, Is.Null, "the stage did not run again");
        Assert.That(File.GetLastWriteTimeUtc(Path.Combine(checkpoint, MultiHeadGraphTerm.StageFile)), Is.EqualTo(stageWritten));
        Assert.That(resumedTerm.Network!.IsFitted, "the fitted network came back from the checkpoint");
        Assert.That(resumedTerm.Network.Graphs.SelectMany(g => g.parameters()).Zip(term.Network.Graphs.SelectMany(g => g.parameters()))
            .All(pair => pair.First.eq(pair.Second).all().item<bool>()), "the restored graphs are the fitted ones");
    }

    [Test]
    public void MissingLayersAndMismatchedBatchesAreNamed()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var term = new MultiHeadGraphTerm(new MultiHeadGraphSettings());
        ArgumentAssert.Rejects(() => new MultiHeadGraphTerm(new MultiHeadGraphSettings { StudentLayers = ["stage2"], TeacherLayers = ["stage2"] }).Bind(student, teacher),
            "student", "at least 2");
        ArgumentAssert.Rejects(() => new MultiHeadGraphTerm(new MultiHeadGraphSettings { StudentLayers = ["stage1", "stage2"], TeacherLayers = ["stage2"] }).Bind(student, teacher),
            "teacher", "by position");
        term.Bind(student, teacher);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        term.BuildAdapter(StudentShapes(), outputs.FeatureShapes, 3);
        ArgumentAssert.Rejects(() => term.BuildAdapter(StudentShapes(), new Dictionary<string, long[]>(), 3), "teacherShapes", "stage1");
        term.Network!.MarkFitted();

        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> s = new() { ["stage1"] = rand(4, 8, 14, 14), ["stage2"] = rand(4, 16, 7, 7), ["stage3"] = rand(4, 32, 7, 7) };
        Dictionary<string, Tensor> t = new() { ["stage1"] = rand(4, 32, 14, 14), ["stage2"] = rand(4, 64, 7, 7), ["stage3"] = rand(4, 128, 7, 7) };
        Tensor logits = zeros(4, 10), labels = zeros(new long[] { 4 }, ScalarType.Int64);
        Assert.That(double.IsFinite(term.Compute(new TermInputs(logits, logits, labels, 0, 1, s, t)).item<float>()));
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(logits, logits, labels, 0, 1, s, t.Where(kv => kv.Key != "stage2").ToDictionary())),
            "inputs", "teacher's layer 'stage2'");
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(logits, logits, labels, 0, 1, null, t)), "inputs", "student's layer 'stage1'");
        var shortTeacher = t.ToDictionary(kv => kv.Key, kv => kv.Value[..3]);
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(logits, logits, labels, 0, 1, s, shortTeacher)), "teacherFeatures", "batch size");
        var shortStudent = new Dictionary<string, Tensor>(s) { ["stage3"] = s["stage3"][..3] };
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(logits, logits, labels, 0, 1, shortStudent, t)), "studentFeatures", "batch size");
    }

    /// <summary>
    /// With cached teacher outputs the teacher's singular vectors are computed once per image: the stage's first epoch
    /// computes every batch, its second (another order) gathers every batch, and the loss on gathered vectors is the
    /// loss on computed ones. With the teacher run live nothing is kept.
    /// </summary>
    [Test]
    public void WithCachedTeacherOutputsTheTeacherVectorsAreComputedOncePerImage()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        using var term = new MultiHeadGraphTerm(new MultiHeadGraphSettings { StageEpochs = 2 });
        term.Bind(student, teacher);
        term.BuildAdapter(StudentShapes(), outputs.FeatureShapes, 3);
        var batcher = new ImageBatcher(Train, 50, new BatchOptions { Shuffle = true, Seed = 3 });
        term.Prepare(new TermPreparation(outputs, batcher.Epoch, batcher.BatchCount, 3, "test", null, null));
        Assert.That(term.TeacherVectorBatches, Is.EqualTo((4L, 4L)), "epoch 1 computes its 4 batches, epoch 2 gathers them");

        using var scope = NewDisposeScope();
        ImageBatch batch = batcher.Epoch(5).First();
        TeacherBatch t = outputs.Get(batch);
        Assert.That(t.Examples!.Indices, Is.EqualTo(batch.Indices));
        Dictionary<string, Tensor> s = new() { ["stage1"] = rand(50, 8, 14, 14), ["stage2"] = rand(50, 16, 7, 7), ["stage3"] = rand(50, 32, 7, 7) };
        Tensor logits = zeros(50, 10);
        var inputs = new TermInputs(logits, t.Logits, batch.Labels, 0, 1, s, t.Features) { TeacherExamples = t.Examples };
        double gathered = term.Compute(inputs).item<float>();
        double computed = term.Compute(inputs with { TeacherExamples = null }).item<float>();
        Assert.That(term.TeacherVectorBatches, Is.EqualTo((5L, 5L)));
        Assert.That(gathered, Is.EqualTo(computed).Within(1e-6 * Math.Abs(computed)));

        using TeacherOutputs live = TeacherOutputs.Create(teacher, Train, cache: false, ["stage1", "stage2", "stage3"]);
        Assert.That(live.Get(batch).Examples, Is.Null, "a live teacher's outputs are not per-image constants");
    }

    [TestCase(0)]
    [TestCase(2)]
    public void TheTermsGradientAtEachLayerIsClippedToCrossEntropys(int epoch)
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var term = new MultiHeadGraphTerm(new MultiHeadGraphSettings());
        term.Bind(student, teacher);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, ["stage1", "stage2", "stage3"]);
        term.BuildAdapter(StudentShapes(), outputs.FeatureShapes, 3);
        term.Network!.MarkFitted();
        using var scope = NewDisposeScope();
        using var capture = new GpuDistill.Features.FeatureCapture(student, ["stage1", "stage2", "stage3"]);
        ImageBatch batch = new ImageBatcher(Train, 40).Epoch(0).First();
        Tensor logits = student.ForwardLogits(batch.Images);
        Dictionary<string, Tensor> s = new() { ["stage1"] = capture["stage1"], ["stage2"] = capture["stage2"], ["stage3"] = capture["stage3"] };
        TeacherBatch t = outputs.Get(batch);
        var inputs = new TermInputs(logits, t.Logits, batch.Labels, epoch, 3, s, t.Features);
        Tensor crossEntropy = nn.functional.cross_entropy(logits, batch.Labels);
        IList<Tensor> bounds = autograd.grad([crossEntropy], [.. s.Values], retain_graph: true);
        double ramp = 1 / (1 + Math.Exp(-epoch));
        // The term's raw gradient at each layer, from leaf copies of the layers.
        Tensor[] leaves = [.. s.Values.Select(v => v.detach().requires_grad_(true))];
        var leafInputs = inputs with { StudentFeatures = new Dictionary<string, Tensor> { ["stage1"] = leaves[0], ["stage2"] = leaves[1], ["stage3"] = leaves[2] } };
        // With leaves cross-entropy cannot reach the layers, so the term leaves them unclipped: the raw gradient.
        term.Compute(leafInputs).backward();
        double[] raw = [.. leaves.Select(l => (double)l.grad!.norm().item<float>())];
        Tensor clippedTotal = term.Compute(inputs);
        IList<Tensor> clipped = autograd.grad([clippedTotal], [.. s.Values], retain_graph: true);
        // Checked at stage3: the gradient at stage1 and stage2 also carries the clipped gradients of the layers above,
        // back-propagated through the student, while stage3's is the clipped one alone.
        for (int k = 2; k < 3; k++)
        {
            double bound = ramp * bounds[k].norm().item<float>();
            double got = clipped[k].norm().item<float>();
            TestContext.Out.WriteLine($"layer {k}: raw {raw[k]:G4}, cross-entropy bound {bound:G4}, clipped {got:G4}");
            Assert.That(got, Is.EqualTo(Math.Min(raw[k], bound)).Within(1e-3 * Math.Min(raw[k], bound) + 1e-12), $"layer {k}");
        }
        capture.Clear();
    }

    private static Dictionary<string, long[]> StudentShapes() => new()
    {
        ["stage1"] = [1, 8, 14, 14],
        ["stage2"] = [1, 16, 7, 7],
        ["stage3"] = [1, 32, 7, 7],
    };

    /// <summary>Keeps the reports (and hands each to <paramref name="onReport"/>) on the calling thread.</summary>
    private sealed class Recorder(List<TrainingProgress>? reports, Action<TrainingProgress>? onReport = null) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            reports?.Add(value);
            onReport?.Invoke(value);
        }
    }
}
