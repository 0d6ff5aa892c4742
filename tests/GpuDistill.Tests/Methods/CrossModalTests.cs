using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Experiments;
using GpuDistill.Methods;
using GpuDistill.Models;
using GpuDistill.Tests.Experiments;
using GpuDistill.Tests.Generic;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// The second modality (Radon projections) against hand-computed sums, its determinism, the sinogram student's
/// input, bad settings, and the cross-modal scheme trained for real on a small slice: the label-free rows do not
/// change when the paired examples' labels are shuffled, while the labelled row does.
/// </summary>
public sealed class CrossModalTests() : TrainingFixture(20, 10)
{
    [Test]
    public void ProfilesAreTheColumnAndRowSumsOfTheImage()
    {
        RadonModality profiles = RadonModality.Create("profiles", 0, noise: 0, noiseSeed: 1);
        ImageDataset measured = profiles.Measure(Train, [], "test");
        Assert.That((measured.Height, measured.Width, measured.Count), Is.EqualTo((2, 28, Train.Count)));
        for (int i = 0; i < 3; i++)
        {
            ReadOnlySpan<byte> image = Train.Image(i), m = measured.Image(i);
            for (int k = 0; k < 28; k++)
            {
                double column = 0, row = 0;
                for (int j = 0; j < 28; j++)
                {
                    column += image[j * 28 + k] / 255.0;
                    row += image[k * 28 + j] / 255.0;
                }
                Assert.That(m[k], Is.EqualTo(Math.Min(255, column / RadonModality.FullScale * 255)).Within(0.51), $"image {i}, column {k}");
                Assert.That(m[28 + k], Is.EqualTo(Math.Min(255, row / RadonModality.FullScale * 255)).Within(0.51), $"image {i}, row {k}");
            }
        }
    }

    [Test]
    public void EveryProjectionKeepsTheImagesTotalIntensity()
    {
        var radon = new RadonModality(angles: 6, bins: 40, noise: 0, noiseSeed: 1);
        for (int i = 0; i < 3; i++)
        {
            ReadOnlySpan<byte> image = Train.Image(i);
            double total = 0;
            foreach (byte b in image) total += b / 255.0;
            double[] sinogram = radon.Project(image);
            for (int a = 0; a < 6; a++)
                Assert.That(sinogram.Skip(a * 40).Take(40).Sum(), Is.EqualTo(total).Within(0.03 * total), $"image {i}, angle {radon.AngleDegrees(a)}");
        }
    }

    [Test]
    public void TheMeasurementOfAnImageIsTheSameWhereverItIsAndItsNoiseFollowsTheSeed()
    {
        var radon = new RadonModality(6, 40, 0.02, noiseSeed: 7);
        ImageDataset forward = radon.Measure(Train, [], "forward");
        int[] reversed = [.. Enumerable.Range(0, Train.Count).Reverse()];
        ImageDataset backward = radon.Measure(Train.Subset(reversed, "reversed"), [], "backward");
        Assert.That(backward.Image(0).ToArray(), Is.EqualTo(forward.Image(Train.Count - 1).ToArray()));
        ImageDataset otherSeed = new RadonModality(6, 40, 0.02, noiseSeed: 8).Measure(Train, [], "other");
        Assert.That(otherSeed.Image(0).ToArray(), Is.Not.EqualTo(forward.Image(0).ToArray()));
        Assert.That(forward.Labels.ToArray().All(l => l == 0), Is.True, "measured without labels");
    }

    [Test]
    public void TheSinogramStudentReadsSinogramsOnlyAndAPixelModelCannotReadThem()
    {
        using var student = new RadonCnn(1, 6, 40);
        using DistillModel pixels = ModelFactory.Create("small-cnn", 1);
        using Tensor sinograms = randn(3, 1, 6, 40);
        using (ModelOutput output = student.Forward(sinograms)) Assert.That(output.Logits.shape, Is.EqualTo(new long[] { 3, 10 }));
        using Tensor images = randn(3, 1, 28, 28);
        ArgumentAssert.Rejects(() => student.Forward(images), "input", "[B, 1, 6, 40]");
        ArgumentAssert.Rejects(() => pixels.Forward(sinograms), "input", "[B, 1, 28, 28]");
    }

    [Test]
    public void BadSettingsNameTheSetting()
    {
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("cross-modal", "modality", "depth").Validate(), "settings.cross-modal.modality", "'depth' does not exist");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("cross-modal", "angles", "0").Validate(), "settings.cross-modal.angles", "1 to 180");
        ArgumentAssert.Rejects(() => MethodSettingsMap.Defaults.Set("cross-modal", "methods", "[\"kd\",\"kd\"]").Validate(), "settings.cross-modal.methods", "without repeats");
        ArgumentAssert.Rejects(() => RadonModality.Create("depth", 6, 0, 1), "modality", "known: radon, profiles");
    }

    [Test]
    public void AListSettingTakesOneItemOrACommaList()
    {
        var one = (CrossModalSettings)MethodSettingsMap.Defaults.Set("cross-modal", "methods", "labels")["cross-modal"];
        var two = (CrossModalSettings)MethodSettingsMap.Defaults.Set("cross-modal", "methods", "kd,labels")["cross-modal"];
        Assert.That(one.Methods, Is.EqualTo(new[] { "labels" }));
        Assert.That(two.Methods, Is.EqualTo(new[] { "kd", "labels" }));
    }

    [Test]
    public void TheLabelFreeRowsNeverReadTheLabelsOfThePairedExamples()
    {
        // The same paired examples, once with their labels and once with the labels shuffled.
        byte[] shuffled = Train.Labels.ToArray();
        new Random(5).Shuffle(shuffled);
        var wrongLabels = new ImageDataset(Train.Pixels, shuffled, 28, 28, Train.ClassCount, "shuffled labels");
        Assert.That(shuffled.Zip(Train.Labels.ToArray()).Count(p => p.First != p.Second), Is.GreaterThan(100));

        (List<CrossModalResult> truth, IReadOnlyList<SchemeRow> truthRows) = Run(Train, Path.Combine(RunDirectory, "true"));
        (List<CrossModalResult> shuffledRun, IReadOnlyList<SchemeRow> shuffledRows) = Run(wrongLabels, Path.Combine(RunDirectory, "shuffled"));
        double[] Losses(IReadOnlyList<SchemeRow> rows, int row) => [.. rows[row].Run.Epochs.Select(e => e.TrainLoss)];

        Assert.That(truth.Select(r => r.Method), Is.EqualTo(CrossModalSettings.MethodNames));
        foreach (string method in new[] { "teacher-labels", "kd", "kd-features" })
        {
            CrossModalResult a = truth.Single(r => r.Method == method), b = shuffledRun.Single(r => r.Method == method);
            Assert.That(b.EpochAccuracy, Is.EqualTo(a.EpochAccuracy), $"{method}: the same test accuracy, epoch by epoch");
            Assert.That(b.Loss, Is.EqualTo(a.Loss));
        }
        for (int row = 1; row < 4; row++)
            Assert.That(Losses(shuffledRows, row), Is.EqualTo(Losses(truthRows, row)), $"{truthRows[row].Role}: the same training losses, bit for bit");
        Assert.That(Losses(shuffledRows, 0), Is.Not.EqualTo(Losses(truthRows, 0)), "the labelled row does read them (so the comparison can tell)");
        Assert.That(truth.Single(r => r.Method == "kd-features").Loss, Does.Contain("xm-features"));

        string report = Path.Combine(RunDirectory, "true", "cross-modal");
        Assert.That(File.ReadAllText(Path.Combine(report, "results.md")), Does.Contain("KD + features").And.Contain("Goal of issue 18"));
        Assert.That(File.Exists(Path.Combine(report, "accuracy.png")) && File.Exists(Path.Combine(report, "modality.png")), Is.True);
    }

    [Test]
    public void ARowResumedWithAnotherScheduleIsRefusedNotReused()
    {
        // The folders are named after the modality, teacher and row; the schedule and data are in their run.json.
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, Train, cache: true);
        IReadOnlyList<SchemeRow> Rows(double learningRate, bool resume)
        {
            var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 50, LearningRate = learningRate }, Seeds = [1] };
            recipe = recipe with { Settings = recipe.Settings.Set("cross-modal", "methods", "kd") };
            var context = new SchemeContext(recipe, Train, Test, teacher, outputs, RunDirectory, resume, null, _ => { }, default);
            return MethodRegistry.Default.Scheme("cross-modal").Create(recipe.Settings["cross-modal"]).Run(context, "small-cnn", 1);
        }

        double first = Rows(0.05, resume: false)[0].Run.FinalAccuracy;
        Assert.That(Rows(0.05, resume: true)[0].Run.FinalAccuracy, Is.EqualTo(first), "the same run is reused");
        Assert.That(() => Rows(0.01, resume: true), Throws.InstanceOf<InvalidDataException>()
            .With.Message.Contains("\"learningRate\":0.05").And.Message.Contains("\"learningRate\":0.01"));
    }

    private (List<CrossModalResult> Results, IReadOnlyList<SchemeRow> Rows) Run(ImageDataset train, string directory)
    {
        using DistillModel teacher = ModelFactory.Create("small-cnn", 5);
        teacher.eval();
        using TeacherOutputs outputs = TeacherOutputs.Create(teacher, train, cache: true);
        var recipe = new Recipe { Training = new ScheduleSection { Epochs = 1, BatchSize = 50 }, Seeds = [1] };
        var context = new SchemeContext(recipe, train, Test, teacher, outputs, directory, false, null, _ => { }, default);
        IReadOnlyList<SchemeRow> rows = MethodRegistry.Default.Scheme("cross-modal").Create(recipe.Settings["cross-modal"]).Run(context, "small-cnn", 1);
        Assert.That(rows.Select(r => r.Role), Is.EqualTo(CrossModalSettings.MethodNames.Select(m => $"radon-cnn, {CrossModalScheme.Label(m)}")));
        return (JsonSerializer.Deserialize<List<CrossModalResult>>(File.ReadAllText(Path.Combine(directory, "cross-modal", "seeds", "seed1.json")), ResultJson.Options)!, rows);
    }
}
