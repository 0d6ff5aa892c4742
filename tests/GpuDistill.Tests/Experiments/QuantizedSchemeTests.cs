using GpuDistill.Quantization;
using GpuDistill.Deployment;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// The quantized-distillation schemes on a tiny slice: each trains a fake-quantized model at the bits its settings
/// say, reports a row named by its precision with its ONNX cost, and leaves the recipe's teacher alone; the deployment
/// table holds the teacher's and the float student's cost beside theirs.
/// </summary>
public sealed class QuantizedSchemeTests() : TrainingFixture(20, 10)
{
    private DistillModel teacher = null!;
    private TeacherOutputs outputs = null!;

    [OneTimeSetUp]
    public void CreateTeacher()
    {
        // A small-cnn teacher keeps quant-teacher and QKD's co-study fast; one epoch makes its outputs informative.
        // Shared by the tests, which check that none of them changes it.
        teacher = ModelFactory.Create("small-cnn", 5);
        new Trainer(Options(1)).Fit("teacher", teacher, WeightedLoss.ForMethod("none"), Train, Test, null, null, false);
        outputs = TeacherOutputs.Create(teacher, Train, cache: true);
    }

    [OneTimeTearDown]
    public void FreeTeacher()
    {
        outputs.Dispose();
        teacher.Dispose();
    }

    [Test]
    public void QuantizedAloneAndDistilledRowsCarryTheirBitsAndDeploymentCost()
    {
        SchemeContext context = Context(MethodSettingsMap.Defaults.Set("quant-kd", "weightBits", "2"));

        SchemeRow alone = Run(context, "quant-alone").Single();
        SchemeRow distilled = Run(context, "quant-kd").Single();

        Assert.That(alone.Role, Is.EqualTo("w4a4"));
        Assert.That(distilled.Role, Is.EqualTo("w2a4"), "--set quant-kd.weightBits=2 reaches the model");
        Assert.That(alone.Run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "ce" }));
        Assert.That(distilled.Run.Epochs[0].Terms.Keys, Does.Contain("kd"), "the quantized student learns from the float teacher");
        Assert.That(distilled.Note, Does.Contain("KiB").And.Contain("teacher"));

        List<DeploymentRow> rows = DeploymentTable.Read(RunDirectory);
        Assert.That(rows.Select(r => r.Scheme), Is.EquivalentTo(new[] { "teacher", "float", "quant-alone", "quant-kd" }));
        DeploymentRow floatStudent = rows.Single(r => r.Scheme == "float"), quantized = rows.Single(r => r.Scheme == "quant-kd");
        Assert.That(quantized.Precision, Does.StartWith("2-bit weights, 4-bit activations"));
        Assert.That(quantized.Cost!.FileBytes, Is.LessThan(floatStudent.Cost!.FileBytes / 2), "int8 weights take a quarter of float32's bytes");
        Assert.That(quantized.Cost.MillisecondsPerImageBatch1, Is.GreaterThan(0));
        Assert.That(quantized.Accuracy, Is.EqualTo(distilled.Run.FinalAccuracy));
        Assert.That(File.ReadAllText(Path.Combine(RunDirectory, DeploymentTable.MarkdownFile)), Does.Contain("| quant-kd | w2a4 | small-cnn |"));
    }

    [Test]
    public void QuantizedTeacherStartsFromTheTeacherAndLeavesItAlone()
    {
        Tensor[] before = [.. teacher.parameters().Select(p => p.detach().clone())];
        SchemeContext context = Context(MethodSettingsMap.Defaults.Set("quant-teacher", "activationBits", "0"));

        SchemeRow row = Run(context, "quant-teacher").Single();

        Assert.That(row.Role, Is.EqualTo("small-cnn w4"), "float activations: weights-only tag");
        Assert.That(row.Run.Epochs[0].Terms.Keys, Does.Contain("kd"));
        Assert.That(teacher.parameters().Zip(before).All(p => p.First.allclose(p.Second, 0, 0)), Is.True, "the recipe's teacher did not move");
        // Starting from the teacher's weights at a tenth of the learning rate, one epoch keeps most of its accuracy.
        double teacherAccuracy = Evaluation.Accuracy(teacher, Test);
        Assert.That(row.Run.FinalAccuracy, Is.GreaterThan(teacherAccuracy - 0.15), $"teacher {teacherAccuracy:P1}");
    }

    [Test]
    public void QkdRunsItsThreePhasesOnACopyOfTheTeacher()
    {
        Tensor[] before = [.. teacher.parameters().Select(p => p.detach().clone())];
        SchemeContext context = Context(MethodSettingsMap.Defaults);

        IReadOnlyList<SchemeRow> rows = Run(context, "qkd");

        Assert.That(rows.Select(r => r.Role), Is.EqualTo(new[] { "w4a4, phase 1 self-study", "small-cnn float, phase 2 co-study", "w4a4" }));
        Assert.That(rows[0].Run.Epochs[0].Terms.Keys, Is.EquivalentTo(new[] { "ce" }));
        Assert.That(rows[1].Run.Epochs[0].Terms.Keys, Does.Contain("dml"), "the teacher copy learns from the quantized student");
        Assert.That(rows[2].Run.Epochs[0].Terms.Keys, Does.Contain("kd"), "tutoring: KD from the co-studied teacher");
        Assert.That(teacher.parameters().Zip(before).All(p => p.First.allclose(p.Second, 0, 0)), Is.True, "the recipe's teacher did not move");
    }

    [Test]
    public void BadQuantizedSettingsAreRejectedByName()
    {
        MethodSettingsMap map = MethodSettingsMap.Defaults;
        ArgumentAssert.Rejects(() => map.Set("quant-kd", "weightBits", "1").Validate(), "settings.quant-kd.weightBits", "2..16");
        ArgumentAssert.Rejects(() => map.Set("qkd", "activationBits", "17").Validate(), "settings.qkd.activationBits", "2..16");
        ArgumentAssert.Rejects(() => map.Set("quant-alone", "learningRateScale", "0").Validate(), "settings.quant-alone.learningRateScale", "> 0");
        ArgumentAssert.Rejects(() => map.Set("quant-kd", "loss", "nope:1").Validate(), "settings.quant-kd.loss", "nope");
        ArgumentAssert.Rejects(() => map.Set("quant-alone", "edgeLayerBits", "1").Validate(), "settings.quant-alone.edgeLayerBits", "2..16");
        Assert.Throws(Is.InstanceOf<ArgumentException>(), () => map.Set("quant-alone", "weightScaling", "median"));
        Assert.That(map.Set("quant-kd", "activationScaling", "learned").Get<QuantizedKDSettings>("quant-kd").Tag, Is.EqualTo("w4a4-lsq"));
        MethodSettingsMap edgeMap = map.Set("quant-kd", "activationScaling", "learned").Set("quant-kd", "edgeLayerBits", "8");
        QuantizedKDSettings edges = edgeMap.Get<QuantizedKDSettings>("quant-kd");
        Assert.That(edges.Tag, Is.EqualTo("w4a4-lsq-e8"), "checkpoints of other widths get other names");
        QuantizedKDSettings mse = edgeMap.Set("quant-kd", "weightScaling", "mse").Get<QuantizedKDSettings>("quant-kd");
        Assert.That(mse.Tag, Is.EqualTo("w4a4-lsq-mse-e8"));
        QuantizedKDSettings leastError = edgeMap.Set("quant-kd", "learnedStepStart", "leastError").Get<QuantizedKDSettings>("quant-kd");
        Assert.That(leastError.Tag, Is.EqualTo("w4a4-lsqle-e8"));
        Assert.That(leastError.ToOptions().LearnedStepStart, Is.EqualTo(LearnedStepStart.LeastError));
        Assert.Throws(Is.InstanceOf<ArgumentException>(), () => map.Set("quant-kd", "learnedStepStart", "median"));
        Assert.That(mse.ToOptions().WeightScaling, Is.EqualTo(WeightScaling.Mse));
        Assert.That(edges.ToOptions().EdgeLayerBits, Is.EqualTo(8));
        Assert.That(map.Get<QuantizedKDSettings>("quant-kd").ToOptions().EdgeLayerBits, Is.Null, "0: the edges like the rest");
        Assert.That(map.Set("quant-alone", "weightBits", "8").Get<QuantizedAloneSettings>("quant-alone").ToOptions().WeightBits, Is.EqualTo(8));
    }

    private SchemeContext Context(MethodSettingsMap settings)
    {
        var recipe = new Recipe
        {
            Teacher = new TeacherSection { Model = "small-cnn", Seed = 5 },
            Training = new ScheduleSection { Epochs = 1, BatchSize = 50 },
            Settings = settings.Set("qkd", "selfStudyEpochs", "1"),
        };
        return new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, false, null, _ => { }, default);
    }

    private static IReadOnlyList<SchemeRow> Run(SchemeContext context, string scheme) =>
        context.Recipe.Settings.Registry.Scheme(scheme).Create(context.Recipe.Settings[scheme]).Run(context, "small-cnn", 1);
}
