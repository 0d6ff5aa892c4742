using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Tests.Experiments;

/// <summary>
/// The relation and graph methods in the trainer: each trains a small CNN from a teacher CNN (different widths), its
/// terms are reported, learned embeddings or projections are counted apart, and the relation term falls.
/// </summary>
public sealed class RelationTrainingTests() : TrainingFixture(20, 10)
{
    private static readonly string[] TeacherLayers = ["stage1", "stage2", "stage3", "head:in"];

    [TestCase("sp", new[] { "sp", "ce" }, 0)]
    [TestCase("rkd", new[] { "rkd-distance", "rkd-angle", "ce" }, 0)]
    // 1x1 convs 8->32, 16->64, 32->128 without bias, and their batch norms' scale and shift.
    [TestCase("fsp", new[] { "fsp", "ce" }, (8 * 32) + (16 * 64) + (32 * 128) + (2 * (32 + 64 + 128)))]
    // Linear 32->128 for the student's embedding and 128->128 for the teacher's, with biases.
    [TestCase("cc", new[] { "cc", "ce" }, (32 * 128) + 128 + (128 * 128) + 128)]
    [TestCase("irg", new[] { "irg", "ce" }, 0)]
    public void TrainsAStudentAndItsRelationTermFalls(string method, string[] terms, int adapterParameters)
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, TeacherLayers);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        TrainingRun run = new Trainer(Options(3)).Fit(method, student, WeightedLoss.ForMethod(method),
            Train, Test, outputs, null, resume: false);

        Assert.That(run.Epochs[0].Terms.Keys, Is.EquivalentTo(terms));
        Assert.That(run.AdapterParameters, Is.EqualTo(adapterParameters));
        Assert.That(run.Epochs.SelectMany(e => e.Terms.Values).All(double.IsFinite), Is.True);
        string relation = terms[0];
        Assert.That(run.Epochs[2].Terms[relation], Is.LessThan(run.Epochs[0].Terms[relation]), $"{relation} falls over training");
    }

    [Test]
    public void FspNeedsTwoLayers()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, TeacherLayers);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var settings = MethodSettingsMap.Defaults.WithLayers(["stage2"], ["stage2"]);
        var error = Assert.Throws<ArgumentException>(() => new Trainer(Options(1)).Fit("fsp", student,
            WeightedLoss.ForMethod("fsp", settings), Train, Test, outputs, null, false))!;
        Assert.That(error.Message, Does.Contain("two layers"));
    }

    [Test]
    public void IrgNeedsThreeLayers()
    {
        using DistillModel teacher = ModelFactory.Create("teacher-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true, TeacherLayers);
        using DistillModel student = ModelFactory.Create("small-cnn", 3);
        var settings = MethodSettingsMap.Defaults.WithLayers(["stage2", "stage3"], ["stage2", "stage3"]);
        var error = Assert.Throws<ArgumentException>(() => new Trainer(Options(1)).Fit("irg", student,
            WeightedLoss.ForMethod("irg", settings), Train, Test, outputs, null, false))!;
        Assert.That(error.Message, Does.Contain("three layers"));
    }
}
