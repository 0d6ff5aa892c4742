using GpuDistill.Data;
using GpuDistill.Diagnostics;
using GpuDistill.Models;
using GpuDistill.Tests.Data;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>
/// The diagnose command's library entry end to end on the embedded test set, with small untrained models of two
/// kinds (a staged CNN teacher, an MLP student): the files are written and every number is finite and in range.
/// </summary>
public sealed class DistillationDiagnosticsTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    [Test]
    public void RunWritesTheReportAndPlots()
    {
        (ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();
        using DistillModel teacher = ModelFactory.Create(SmallCnn.ArchitectureName, 1);
        using DistillModel student = ModelFactory.Create(Mlp.ArchitectureName, 2);
        student.eval();
        using var directory = new TempDirectory();
        ImageDataset trainSample = train.StratifiedSample(7, 3, "train sample");

        // The default subset asks for 200 per class; the embedded test set has 100 of each, so all 1,000 are used.
        DiagnosticsReport report = DistillationDiagnostics.Run(teacher, student, test, directory.Path,
            knowledgeSets: [("train sample", trainSample)]);

        Assert.Multiple(() =>
        {
            foreach (string file in report.Files) Assert.That(File.Exists(file), file);
            Assert.That(report.Files.Select(Path.GetFileName), Is.EquivalentTo(new[] { "diagnostics.md", "reliability-diagram.png", "cka-heatmap.png" }));
            foreach (string png in report.Files.Where(f => f.EndsWith(".png", StringComparison.Ordinal)))
                Assert.That(File.ReadAllBytes(png).Take(8), Is.EqualTo(PngSignature), png);
            Assert.That(teacher.training, Is.True, "the teacher's mode is restored");
            Assert.That(student.training, Is.False, "the student's mode is restored");

            Assert.That(report.TestExamples, Is.EqualTo(1000));
            Assert.That(report.Fidelity.Examples, Is.EqualTo(1000));
            Assert.That(report.Fidelity.Agreement, Is.InRange(0.0, 1.0));
            Assert.That(report.Fidelity.MeanKL, Is.GreaterThan(0).And.LessThan(double.PositiveInfinity));
            foreach (ModelDiagnostics model in new[] { report.Teacher, report.Student })
            {
                Assert.That(model.Calibration.Ece, Is.InRange(0.0, 1.0), model.Architecture);
                Assert.That(model.Calibration.Accuracy, Is.InRange(0.0, 1.0), model.Architecture);
                Assert.That(model.Calibration.Bins.Sum(b => b.Count), Is.EqualTo(1000), model.Architecture);
            }
            Assert.That(report.Teacher.Parameters, Is.EqualTo(teacher.ParameterCount));

            Assert.That(report.Cka.Examples, Is.EqualTo(1000));
            Assert.That(report.Cka.ImagesPerClass, Is.EqualTo(100));
            Assert.That(report.Cka.TeacherLayers, Is.EqualTo(new[] { "stage1", "stage2", "stage3", "head:in" }));
            Assert.That(report.Cka.StudentLayers, Is.EqualTo(new[] { "fc1", "fc2", "head:in" }));
            foreach (double value in report.Cka.Values) Assert.That(value, Is.InRange(0.0, 1.0 + 1e-6));
            // The MLP's second layer is the embedding its head reads: the same features, CKA 1 with themselves.
            Assert.That(report.Cka.Values[3, 2], Is.EqualTo(report.Cka.Values[3, 1]).Within(1e-6));

            // The teacher's soft targets and the student's fidelity on each set, the test set last and the same as above.
            Assert.That(report.Sets.Select(s => s.Set), Is.EqualTo(new[] { "train sample", "test" }));
            Assert.That(report.Sets[0].Fidelity.Examples, Is.EqualTo(70));
            Assert.That(report.Sets[1].Fidelity, Is.EqualTo(report.Fidelity));
            Assert.That(report.Sets[1].StudentAccuracy, Is.EqualTo(report.Student.Calibration.Accuracy).Within(1e-12));
            Assert.That(report.Sets[1].TeacherKnowledge.Accuracy, Is.EqualTo(report.Teacher.Calibration.Accuracy).Within(1e-12));
            foreach (ImageSetDiagnostics set in report.Sets)
                Assert.That(set.TeacherKnowledge.ByTemperature.Select(s => s.NonTargetMass), Is.All.InRange(0.0, 1.0), set.Set);

            string markdown = File.ReadAllText(Path.Combine(directory.Path, "diagnostics.md"));
            Assert.That(markdown, Does.Contain("## What the teacher's soft targets carry").And.Contain("| train sample | 70 |"));
            Assert.That(markdown, Does.Contain("## Fidelity").And.Contain("## Calibration (ECE, 15 equal-width bins")
                .And.Contain("## Representation similarity").And.Contain("| `stage3` |").And.Contain("100 per class"));
        });
    }

    [Test]
    public void CheapMetricsAgreeWithTheReport()
    {
        (_, ImageDataset test) = FashionMnist.LoadEmbedded();
        using DistillModel model = ModelFactory.Create(Mlp.ArchitectureName, 3);
        FidelityResult self = Fidelity.Measure(model, model, test);
        Assert.That(self.Agreement, Is.EqualTo(1));
        Assert.That(self.MeanKL, Is.EqualTo(0));
        CalibrationResult calibration = Calibration.Measure(model, test, batchSize: 300);
        Assert.That(calibration.Accuracy, Is.EqualTo(GpuDistill.Training.Evaluation.Accuracy(model, test)).Within(1e-12));
        Assert.That(calibration.Examples, Is.EqualTo(test.Count));

        using DistillModel other = ModelFactory.Create(Mlp.ArchitectureName, 4);
        ResultsRowDiagnostics row = DistillationDiagnostics.ForResultsRow(model, other, test, batchSize: 256);
        FidelityResult fidelity = Fidelity.Measure(model, other, test);
        CalibrationResult otherCalibration = Calibration.Measure(other, test);
        // Other batch sizes: libtorch's GEMMs may round the logits differently in the last bits.
        Assert.That(row.Agreement, Is.EqualTo(fidelity.Agreement));
        Assert.That(row.MeanKL, Is.EqualTo(fidelity.MeanKL).Within(1e-6 * fidelity.MeanKL));
        Assert.That(row.Ece, Is.EqualTo(otherCalibration.Ece).Within(1e-6));
        Assert.That(row.Accuracy, Is.EqualTo(otherCalibration.Accuracy));
    }

    [Test]
    public void SmallSubsetAndBadOptions()
    {
        (_, ImageDataset test) = FashionMnist.LoadEmbedded();
        using DistillModel teacher = ModelFactory.Create(MidCnn.ArchitectureName, 4);
        using DistillModel student = ModelFactory.Create(SmallCnn.ArchitectureName, 5);
        CkaMatrix cka = DistillationDiagnostics.MeasureCka(teacher, student, test, new DiagnosticsOptions { CkaImagesPerClass = 3, BatchSize = 7 });
        Assert.That(cka.Examples, Is.EqualTo(30));
        Assert.That(cka.Values.GetLength(0), Is.EqualTo(4));
        foreach (double value in cka.Values) Assert.That(value, Is.InRange(0.0, 1.0 + 1e-6));
        Assert.Throws<ArgumentOutOfRangeException>(() => DistillationDiagnostics.MeasureCka(teacher, student, test, new DiagnosticsOptions { CkaImagesPerClass = 0 }));
    }
}
