using GpuDistill.Data;
using GpuDistill.Diagnostics;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.DataFree;

/// <summary>
/// Data-free distillation through the one trainer: the student learns on a generator's images only, the training set
/// it gets cannot be read, the generator is checkpointed and resumed with the student, and bad input is refused.
/// </summary>
public sealed class DataFreeTrainingTests() : TrainingFixture(2, 5)
{
    private static ImageDataset Withheld() => ImageDataset.Withheld(28, 28, 10, "data-free test");

    private static TrainingOptions Tiny(int epochs) => new() { Epochs = epochs, BatchSize = 8, LearningRate = 0.01, Seed = 3 };

    [Test]
    public void AWithheldTrainingSetThrowsOnEveryRead()
    {
        ImageDataset train = Withheld();
        Assert.Multiple(() =>
        {
            Assert.That(train.IsWithheld, Is.True);
            Assert.That(train.Count, Is.Zero);
            Assert.That(train.ClassCount, Is.EqualTo(10));
            foreach (Action read in new Action[]
            {
                () => _ = train.Pixels.Length, () => _ = train.Labels.Length, () => train.Image(0), () => train.Label(0),
                () => train.CountPerClass(), () => train.Subset([0], "x"), () => train.StratifiedSample(1, 1, "x"),
            })
            {
                var error = Assert.Throws<InvalidOperationException>(() => read())!;
                Assert.That(error.Message, Does.Contain("withheld (data-free test)").And.Contain("only the test set"));
            }
        });
    }

    [Test]
    public void AGeneratedBatchCarriesTheTeachersLogitsAndTheStepDoesNotRunTheTeacherAgain()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, width: 16);
        using var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame("l1", student), 8, 2, 1e-3, 1, studentStepsPerGeneratorStep: 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: false);
        int forwards = 0;
        var counter = teacher.register_forward_hook((_, _, output) => { forwards++; return output; });
        using var scope = NewDisposeScope();
        ImageBatch batch = source.Epoch(0).First();
        Assert.That(batch.TeacherPass, Is.Not.Null, "the source labelled the batch with the teacher's logits");
        forwards = 0;
        Tensor logits = outputs.Get(batch).Logits;
        Assert.That(forwards, Is.EqualTo(0), "the step reuses them");
        using (no_grad())
            Assert.That(logits.allclose(teacher.ForwardLogits(batch.Images), rtol: 0, atol: 0), Is.True, "the same logits as a fresh pass");
        Assert.That(logits.argmax(1).eq(batch.Labels).all().item<bool>(), Is.True, "the labels are the logits' argmax");
        using TeacherOutputs withLayers = TeacherOutputs.Create(teacher, Train, cache: false, ["stage1"]);
        forwards = 0;
        Assert.That(withLayers.Get(batch).Features["stage1"].shape[0], Is.EqualTo(8));
        Assert.That(forwards, Is.EqualTo(1), "feature terms need the teacher's layers, so it runs again then");
        counter.remove();
    }

    [Test]
    public void ADataFreeRunGivenALabelledTrainingSetIsRefused()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1);
        using var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame("l1", student), 8, 2, 1e-3, 1, studentStepsPerGeneratorStep: 5);
        ArgumentAssert.Rejects(() => DataFreeTraining.Fit(Tiny(1), null, source, "dfad", student, new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]),
            Train, Test, null, false), "train", "labelled training set");
    }

    [Test]
    public void DfadTrainsTheStudentAndTheGeneratorWithoutATrainingImage()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, output: GeneratorOutput.BatchNormalized, width: 16);
        Tensor[] generatorBefore = [.. generator.parameters().Select(p => p.detach().clone())];
        Tensor[] studentBefore = [.. student.parameters().Select(p => p.detach().clone())];
        Tensor[] teacherBefore = [.. teacher.parameters().Select(p => p.detach().clone())];
        var settings = new DfadSettings { StudentStepsPerGeneratorStep = 2 };
        using var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame(settings.Divergence, student), 8, 4, 1e-3, 1, studentStepsPerGeneratorStep: settings.StudentStepsPerGeneratorStep);

        // The training set is withheld: any read of it during the run would throw.
        TrainingRun run = DataFreeTraining.Fit(Tiny(1), null, source, "dfad", student,
            new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]), Withheld(), Test, null, false);

        Assert.Multiple(() =>
        {
            Assert.That(run.Epochs, Has.Count.EqualTo(1));
            Assert.That(run.Epochs[0].Terms.Keys, Is.EqualTo(new[] { "div-l1" }));
            Assert.That(source.GeneratorSteps, Is.EqualTo(2), "one generator step before every 2 of the 4 student steps");
            Assert.That(source.ImagesGenerated, Is.EqualTo((4 + 2) * 8), "4 student batches and 2 generator batches of 8");
            Assert.That(double.IsFinite(source.LastEpochGeneratorLoss) && source.LastEpochGeneratorLoss <= 0, Is.True, "the generator minimises -D");
            Assert.That(Moved(generator, generatorBefore), Is.True, "the generator learned");
            Assert.That(Moved(student, studentBefore), Is.True, "the student learned");
            Assert.That(Moved(teacher, teacherBefore), Is.False, "the teacher stayed frozen");
        });
    }

    [Test]
    public void TheGeneratorIsCheckpointedWithTheStudentAndRestoredOnResume()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        var settings = new DfadSettings { StudentStepsPerGeneratorStep = 1 };
        var loss = new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]);
        Tensor[] afterFirst;
        using (DistillModel student = ModelFactory.Create("small-cnn", 3))
        using (var generator = new ImageGenerator(1, width: 16))
        using (var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame(settings.Divergence, student), 8, 2, 1e-3, 1, studentStepsPerGeneratorStep: settings.StudentStepsPerGeneratorStep))
        {
            DataFreeTraining.Fit(Tiny(1), null, source, "dfad", student, loss, Withheld(), Test, RunDirectory, false);
            afterFirst = [.. generator.parameters().Select(p => p.detach().clone())];
        }
        Assert.That(Directory.GetFiles(RunDirectory, "epoch-1.source.*").Select(Path.GetFileName),
            Is.EquivalentTo(new[] { "epoch-1.source.generator.pt", "epoch-1.source.generator-optimizer.pt", "epoch-1.source.counters.pt" }));

        // A new generator from another seed: resuming must load the saved one (and its counters) before epoch 2.
        using DistillModel resumed = ModelFactory.Create("small-cnn", 3);
        using var other = new ImageGenerator(99, width: 16);
        var loaded = new List<Tensor[]>();
        using var second = new GeneratorBatchSource(other, teacher, new Recording(() => loaded.Add([.. other.parameters().Select(p => p.detach().clone().DetachFromDisposeScope())])), 8, 2, 1e-3, 1);
        TrainingRun run = DataFreeTraining.Fit(Tiny(2), null, second, "dfad", resumed, loss, Withheld(), Test, RunDirectory, resume: true);

        Assert.Multiple(() =>
        {
            Assert.That(run.Epochs, Has.Count.EqualTo(2));
            Assert.That(loaded[0].Zip(afterFirst).All(p => Same(p.First, p.Second)), Is.True, "epoch 2 starts from the saved generator");
            Assert.That(second.ImagesGenerated, Is.EqualTo((2 + 2) * 8 + (2 * 8)), "epoch 1's counters restored, epoch 2's student batches added");
            Assert.That(second.GeneratorSteps, Is.EqualTo(2));
        });
    }

    /// <summary>
    /// generatorResetEpochs 2 over three epochs: the generator (which this game never steps) keeps its weights through
    /// epochs 1 and 2 and has new ones from epoch 3 on; a run stopped after epoch 2 and resumed resets at the same
    /// epoch to the same weights.
    /// </summary>
    [Test]
    public void AGeneratorResetEveryTwoEpochsStartsAgainAtEpochThreeAndAResumedRunToo()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        var loss = new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]);
        List<Tensor[]> Run(int epochs, bool resume, string directory)
        {
            var seen = new List<Tensor[]>();
            using DistillModel student = ModelFactory.Create("small-cnn", 3);
            using var generator = new ImageGenerator(1, width: 16);
            using var source = new GeneratorBatchSource(generator, teacher,
                new Recording(() => seen.Add([.. generator.parameters().Select(p => p.detach().clone().DetachFromDisposeScope())])),
                8, 1, 1e-3, 1, resetEpochs: 2);
            DataFreeTraining.Fit(Tiny(epochs), null, source, "reset", student, loss, Withheld(), Test, directory, resume);
            Assert.That(source.GeneratorResets, Is.EqualTo(epochs == 3 && !resume ? 1 : resume ? 1 : 0));
            return seen;
        }
        string whole = Path.Combine(RunDirectory, "whole"), stopped = Path.Combine(RunDirectory, "stopped");
        List<Tensor[]> straight = Run(3, false, whole);
        Run(2, false, stopped);
        List<Tensor[]> resumed = Run(3, true, stopped);

        static bool All(Tensor[] a, Tensor[] b) => a.Zip(b).All(p => Same(p.First, p.Second));
        Assert.Multiple(() =>
        {
            Assert.That(straight, Has.Count.EqualTo(3), "one game call an epoch");
            Assert.That(All(straight[1], straight[0]), Is.True, "no reset at epoch 2");
            Assert.That(straight[2].Zip(straight[1]).Where(p => p.First.dim() > 1).All(p => !Same(p.First, p.Second)), Is.True,
                "every weight matrix and kernel new at epoch 3 (the unstepped batch norms start at 1 and 0 again)");
            Assert.That(resumed, Has.Count.EqualTo(1), "the resumed run trains epoch 3 only");
            Assert.That(All(resumed[0], straight[2]), Is.True, "the resumed run resets at epoch 3 to the same weights");
        });
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("dfad", "generatorResetEpochs", "-1").Validate(),
            "settings.dfad.generatorResetEpochs", ">= 0");
    }

    [Test]
    public void WithAMemoryTheStudentDrawsFromItAndTheMemoryIsCheckpointed()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        var loss = new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]);
        using (DistillModel student = ModelFactory.Create("small-cnn", 3))
        using (var generator = new ImageGenerator(1, width: 16))
        using (var source = new GeneratorBatchSource(generator, teacher, new DivergenceGame("l1", student), 8, 4, 1e-3, 1, memory: 32, studentStepsPerGeneratorStep: 2))
        {
            int forwards = 0;
            var counter = teacher.register_forward_hook((_, _, output) => { forwards++; return output; });
            DataFreeTraining.Fit(Tiny(1), null, source, "dfad", student, loss, Withheld(), Test, RunDirectory, false);
            Assert.Multiple(() =>
            {
                Assert.That(source.GeneratorSteps, Is.EqualTo(2));
                Assert.That(source.ImagesGenerated, Is.EqualTo(2 * 8), "only the generator's steps make images; the other steps draw from the memory");
                Assert.That(source.Memory!.Count, Is.EqualTo(16));
                Assert.That(forwards, Is.EqualTo(2), "one pass per generator step, whose logits are stored with its images; none on a draw");
            });
            counter.remove();
        }
        Assert.That(File.Exists(Path.Combine(RunDirectory, "epoch-1.source.memory.pt")), Is.True);

        using DistillModel resumed = ModelFactory.Create("small-cnn", 3);
        using var other = new ImageGenerator(99, width: 16);
        using var second = new GeneratorBatchSource(other, teacher, new DivergenceGame("l1", resumed), 8, 4, 1e-3, 1, memory: 32, studentStepsPerGeneratorStep: 2);
        DataFreeTraining.Fit(Tiny(2), null, second, "dfad", resumed, loss, Withheld(), Test, RunDirectory, resume: true);
        Assert.That(second.Memory!.Count, Is.EqualTo(32), "epoch 1's 16 images restored, epoch 2's 16 added");
        Assert.That(Directory.GetFiles(RunDirectory, "epoch-*.source.memory.pt").Select(Path.GetFileName),
            Is.EqualTo(new[] { "epoch-2.source.memory.pt" }), "only the last epoch's memory is kept (each is as large as the memory)");

        using var small = new ImageGenerator(2, width: 16);
        Assert.That(() => new GeneratorBatchSource(small, teacher, new DivergenceGame("l1", resumed), 8, 4, 1e-3, 1, memory: 4, studentStepsPerGeneratorStep: 2),
            Throws.TypeOf<ArgumentOutOfRangeException>().With.Property("ParamName").EqualTo("memory").And.Message.Contains("at least the batch size (8)"));
    }

    [Test]
    public void TheGeneratorsTimeIsCountedAsMakingTheBatches()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, width: 16);
        // A game that takes at least 60 ms per generator step, two steps per epoch.
        using var source = new GeneratorBatchSource(generator, teacher, new Recording(() => Thread.Sleep(60)), 8, 2, 1e-3, 1);
        var loss = new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]);
        TrainingRun run = DataFreeTraining.Fit(Tiny(1), null, source, "timed", student, loss, Withheld(), Test, null, false);
        StepTimeSplit split = run.Epochs[0].Split;
        Assert.That(split.Batches, Is.GreaterThanOrEqualTo(0.12), "both generator steps fall in the batch-making part");
        Assert.That(split.Total, Is.EqualTo(split.Teacher + split.StudentForward + split.Loss + split.BackwardAndStep + split.Batches).Within(1e-12));
        Assert.That(run.Epochs[0].Seconds, Is.GreaterThanOrEqualTo(split.Total - 1e-6), "the parts lie within the epoch's time");
    }

    [Test]
    public void DaflAndDeepInversionRunAsSchemesAndDrawTheirImageGrid([Values("dafl", "deep-inversion")] string name, [Values(false, true)] bool withMemory)
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        // The scheme's context itself holds a withheld training set: the scheme may read its size and classes only.
        ImageDataset train = Withheld();
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, train, cache: false);
        MethodSettingsMap map = MethodSettingsMap.Defaults.Set(name, "batchSize", "8").Set(name, "stepsPerEpoch", "2")
            .Set(name, "generatorWidth", "16").Set(name, "gridImagesPerClass", "1");
        if (withMemory)
            map = map.Set(name, "memory", "16").Set(name, "studentStepsPerGeneratorStep", "2");
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 8 }, Seeds = [1], Settings = map };
        var log = new List<string>();
        var context = new SchemeContext(recipe, train, Test, teacher, outputs, RunDirectory, false, null, log.Add, default);

        IReadOnlyList<SchemeRow> rows = MethodRegistry.Default.Scheme(name).Create(map[name]).Run(context, "small-cnn", 1);

        string png = Path.Combine(RunDirectory, "generated", $"{name}-small-cnn-seed1.png");
        Assert.Multiple(() =>
        {
            Assert.That(rows, Has.Count.EqualTo(1));
            Assert.That(rows[0].Run.FinalAccuracy, Is.InRange(0.0, 1.0));
            // With a memory, the second step draws from it: one generator step, its 8 images, no fresh batch.
            Assert.That(rows[0].Note, Does.Contain(withMemory ? "8 generated images, 1 generator steps" : "16 generated images, 2 generator steps")
                .And.Contain("no training image read"));
            Assert.That(File.ReadAllBytes(png).Take(4), Is.EqualTo(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
            Assert.That(log.Single(), Does.Contain(png));
        });
    }

    [Test]
    public void AMixedBatchIsARealBatchAndAGeneratedOneWhoseLabelsAreIgnored()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using var generator = new ImageGenerator(1, width: 16);
        var real = new ImageBatcher(Train, 10);
        using var made = new GeneratorBatchSource(generator, teacher, new Recording(() => { }), 4, real.BatchCount, 1e-3, 1);

        using ImageBatch first = new MixedBatchSource(real, made).Epoch(0).First();
        using ImageBatch expected = real.Epoch(0).First();

        Assert.Multiple(() =>
        {
            Assert.That(first.Count, Is.EqualTo(14));
            Assert.That(Same(first.Images[..10], expected.Images), Is.True, "the real rows come first, unchanged");
            Assert.That(first.Labels[..10].data<long>().ToArray(), Is.EqualTo(expected.Labels.data<long>().ToArray()));
            Assert.That(first.Labels[10..].data<long>().ToArray(), Is.All.EqualTo(MixedBatchSource.IgnoredLabel));
            Assert.That(first.Indices.Skip(10), Is.All.EqualTo(-1), "generated rows have no dataset index");
        });
    }

    [Test]
    public void AMixedBatchCarriesTheCachedRealLogitsAndRunsTheTeacherOnTheGeneratedRowsOnly()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using var generator = new ImageGenerator(1, width: 16);
        var real = new ImageBatcher(Train, 10);
        using var made = new GeneratorBatchSource(generator, teacher, new Recording(() => { }), 4, real.BatchCount, 1e-3, 1);
        using TeacherOutputs cached = TeacherOutputs.Create(teacher, Train, cache: true);
        cached.EnsureComputed();
        var rowsSeen = new List<long>();
        var counter = teacher.register_forward_hook((_, input, output) => { rowsSeen.Add(((Tensor)input).shape[0]); return output; });

        using ImageBatch mixed = new MixedBatchSource(real, made, cached).Epoch(0).First();
        counter.remove();
        using var scope = NewDisposeScope();
        Tensor live;
        using (no_grad()) live = teacher.ForwardLogits(mixed.Images);
        Assert.Multiple(() =>
        {
            Assert.That(rowsSeen, Is.EqualTo(new long[] { 4 }), "the teacher ran once, on the 4 generated rows");
            Assert.That(mixed.TeacherPass, Is.Not.Null);
            Assert.That(mixed.TeacherPass!.Logits.shape, Is.EqualTo(new long[] { 14, 10 }));
            Assert.That(mixed.TeacherPass.Logits.allclose(live, rtol: 1e-4, atol: 1e-5), Is.True, "the logits are the teacher's on the mixed images");
        });
    }

    [Test]
    public void AdversarialTrainsOnRealAndGeneratedRowsAndReportsTheGeneratedImages()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        MethodSettingsMap map = MethodSettingsMap.Defaults.Set("adversarial", "batchSize", "4").Set("adversarial", "generatorWidth", "16")
            .Set("adversarial", "gridImagesPerClass", "1").Set("adversarial", "studentStepsPerGeneratorStep", "1");
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 10 }, Seeds = [1], Settings = map };
        var context = new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, false, null, _ => { }, default);

        IReadOnlyList<SchemeRow> rows = MethodRegistry.Default.Scheme("adversarial").Create(map["adversarial"]).Run(context, "small-cnn", 1);

        // 20 real images in batches of 10: 2 student steps, each after a generator step; 4 images per batch and step.
        Assert.Multiple(() =>
        {
            Assert.That(rows.Single().Note, Does.Contain("16 generated images beside the real ones").And.Contain("2 generator steps"));
            Assert.That(rows.Single().Run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "kd", "ce" }));
            Assert.That(File.Exists(Path.Combine(RunDirectory, "generated", "adversarial-small-cnn-seed1.png")), Is.True);
        });
    }

    [Test]
    public void TheDiscriminatorSchemeAddsItsTermAndCheckpointsTheDiscriminatorWithTheStudent()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 10 }, Seeds = [1] };
        var context = new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, false, null, _ => { }, default);

        IReadOnlyList<SchemeRow> rows = MethodRegistry.Default.Scheme("discriminator").Create(recipe.Settings["discriminator"]).Run(context, "small-cnn", 1);

        string checkpoint = Path.Combine(RunDirectory, "checkpoints", "discriminator", "small-cnn", "seed1");
        Assert.Multiple(() =>
        {
            Assert.That(rows.Single().Run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "kd", "ce", "discriminator" }));
            Assert.That(double.IsFinite(rows.Single().Run.Epochs[0].Terms["discriminator"]), Is.True);
            Assert.That(File.Exists(Path.Combine(checkpoint, "epoch-1.source.discriminator.pt")), Is.True);
            Assert.That(File.Exists(Path.Combine(checkpoint, "epoch-1.source.discriminator-optimizer.pt")), Is.True);
        });
    }

    [Test]
    public void AGeneratorWhoseImagesDoNotFitTheTeacherIsRefused()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using var generator = new ImageGenerator(1, imageSize: 32);
        ArgumentAssert.Rejects(() => _ = new GeneratorBatchSource(generator, teacher, new Recording(() => { }), 8, 2, 1e-3, 1),
            "inputShape", "makes images [1, 32, 32], but model 'small-cnn' takes [1, 28, 28]");
    }

    [Test]
    public void DeepInversionRefusesATeacherWithoutBatchNorm()
    {
        using DistillModel teacher = ModelFactory.Create("mlp", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        ArgumentAssert.Rejects(() => _ = new DeepInversionScheme.Game(new DeepInversionSettings(), teacher, student, 1), "model", "has no batch-norm layer");
    }

    [TestCase(0.0, false)]
    [TestCase(0.2, true)]
    public void DeepInversionsCompetitionTermRunsTheStudentOnlyWhenWeighted(double adiScale, bool studentInTheLoop)
    {
        // Adaptive DeepInversion: the generator's loss reaches the student's parameters through the competition term.
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, classes: 10, width: 16);
        var settings = new DeepInversionSettings { AdiScale = adiScale };
        using var game = new DeepInversionScheme.Game(settings, teacher, student, 1);
        using var source = new GeneratorBatchSource(generator, teacher, game, 8, 1, 1e-3, 1);
        using var scope = NewDisposeScope();
        _ = source.Epoch(0).First();
        bool studentGotGradient = student.parameters().Any(p => p.grad is Tensor g && g.abs().sum().item<float>() > 0);
        Assert.That(studentGotGradient, Is.EqualTo(studentInTheLoop));
    }

    [Test]
    public void AGamesTeacherLogitsGoWithItsImagesAndTheTeacherDoesNotRunAgain()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, classes: 10, width: 16);
        using var game = new DeepInversionScheme.Game(new DeepInversionSettings(), teacher, student, 1);
        using var source = new GeneratorBatchSource(generator, teacher, game, 8, 1, 1e-3, 1);
        int forwards = 0;
        var counter = teacher.register_forward_hook((_, _, output) => { forwards++; return output; });
        using var scope = NewDisposeScope();
        ImageBatch batch = source.Epoch(0).First();
        counter.remove();
        Assert.That(forwards, Is.EqualTo(1), "the generator step's pass only");
        using (no_grad())
        {
            // The student learns on the shifted images the teacher saw: the logits are the teacher's for exactly these.
            Assert.That(batch.TeacherPass!.Logits.allclose(teacher.ForwardLogits(batch.Images), rtol: 1e-5, atol: 1e-5), Is.True);
        }
    }

    [Test]
    public void TeacherLogitsOfTheWrongShapeFromAGameAreRefused()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using var generator = new ImageGenerator(1, width: 16);
        using var source = new GeneratorBatchSource(generator, teacher, new Recording(() => { }) { WrongLogits = true }, 8, 1, 1e-3, 1);
        ArgumentAssert.Rejects(() => _ = source.Epoch(0).First(), "logits", "expected float32 [8, 10]");
    }

    [Test]
    public void DeepInversionsDiversityTermStepsTheGeneratorAndNeedsAnEvenBatch()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, classes: 10, width: 16);
        var settings = new DeepInversionSettings { Diversity = 1, BatchSize = 8 };
        settings.Validate();
        using var game = new DeepInversionScheme.Game(settings, teacher, student, 1);
        using var source = new GeneratorBatchSource(generator, teacher, game, 8, 1, 1e-3, 1);
        using var scope = NewDisposeScope();
        Tensor[] before = [.. generator.parameters().Select(p => p.detach().clone())];
        _ = source.Epoch(0).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(source.GeneratorSteps, Is.EqualTo(1));
            Assert.That(double.IsFinite(source.LastEpochGeneratorLoss), Is.True);
            Assert.That(Moved(generator, before), Is.True);
        });
        var odd = new DeepInversionSettings { Diversity = 1, BatchSize = 7 };
        Assert.That(() => odd.Validate(), Throws.Exception.With.Message.Contains("batchSize").And.Message.Contains("even when diversity > 0"));
    }

    [Test]
    public void ANaNInAGeneratedBatchStopsTheRunAsDivergedAndKeepsTheCheckpoint()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        using var generator = new ImageGenerator(1, width: 16);
        var game = new Recording(() => { }) { PoisonFromEpoch = 1 };
        using var source = new GeneratorBatchSource(generator, teacher, game, 8, 2, 1e-3, 1);
        var loss = new WeightedLoss([(GeneratorDivergence.Term("l1"), 1.0)]);

        var error = Assert.Throws<TrainingDivergedException>(() =>
            DataFreeTraining.Fit(Tiny(2), null, source, "nan", student, loss, Withheld(), Test, RunDirectory, false))!;

        Assert.Multiple(() =>
        {
            Assert.That(error.What, Is.EqualTo("the generator's images"));
            Assert.That(error.Message, Does.Contain("NaN or infinite").And.Contain("expected finite images").And.Contain("epoch 1"));
            Assert.That(File.Exists(Path.Combine(RunDirectory, "epoch-1.source.generator.pt")), Is.True, "epoch 1's checkpoint is kept");
        });
    }

    [Test]
    public void TheImageGridHasARowPerClassOfAConditionalGenerator()
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using var generator = new ImageGenerator(1, classes: 10, width: 16);
        string png = Path.Combine(RunDirectory, "grid.png");

        int[] filled = GeneratedImageGrid.Write(generator, teacher, png, perClass: 4);

        Assert.That(filled, Is.EqualTo(Enumerable.Repeat(4, 10)));
        Assert.That(new FileInfo(png).Length, Is.GreaterThan(1000));
    }

    private static bool Same(Tensor a, Tensor b) => a.eq(b).all().item<bool>();

    private static bool Moved(TorchSharp.torch.nn.Module module, Tensor[] before) =>
        module.parameters().Zip(before).Any(p => !Same(p.First, p.Second));

    /// <summary>A game that takes no generator step: it records when it is asked, and can hand over NaN images or
    /// logits of the wrong shape.</summary>
    private sealed class Recording(Action onStep) : IGeneratorGame
    {
        public int PoisonFromEpoch { get; init; } = int.MaxValue;

        public bool WrongLogits { get; init; }

        public IReadOnlyList<TrainedModule> Extras => [];

        public GameImages? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep)
        {
            onStep();
            if (WrongLogits) return new GameImages(zeros(source.BatchSize, 1, 28, 28), zeros(source.BatchSize, 9));
            return epoch >= PoisonFromEpoch ? new GameImages(full([source.BatchSize, 1, 28, 28], float.NaN)) : null;
        }
    }
}
