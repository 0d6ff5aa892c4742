using System.Globalization;
using System.Text;

namespace GpuDistill.Diagnostics;

/// <summary>One model of the pair: what it is and how it is calibrated.</summary>
/// <param name="Architecture">Its factory name, e.g. <c>teacher-cnn</c>.</param>
/// <param name="Parameters">Its parameter count.</param>
/// <param name="Calibration">Accuracy, confidence, ECE and bins on the test set.</param>
public sealed record ModelDiagnostics(string Architecture, long Parameters, CalibrationResult Calibration);

/// <summary>The diagnostics a results table carries per student row (<see cref="DistillationDiagnostics.ForResultsRow"/>).</summary>
/// <param name="Agreement">Top-1 agreement with the teacher, in [0, 1].</param>
/// <param name="MeanKL">Mean KL(teacher || student) at T = 1, nats.</param>
/// <param name="Ece">The student's expected calibration error, in [0, 1].</param>
/// <param name="Accuracy">The student's test accuracy, in [0, 1].</param>
public sealed record ResultsRowDiagnostics(double Agreement, double MeanKL, double Ece, double Accuracy);

/// <summary>One set of images measured: the teacher's soft targets, the student's fidelity and accuracy there.</summary>
/// <param name="Set">Which images.</param>
/// <param name="TeacherKnowledge">What the teacher's softened outputs carry beyond the labels.</param>
/// <param name="Fidelity">The student's agreement and KL against the teacher.</param>
/// <param name="StudentAccuracy">The student's top-1 accuracy.</param>
public sealed record ImageSetDiagnostics(string Set, TeacherKnowledgeResult TeacherKnowledge, FidelityResult Fidelity,
    double StudentAccuracy);

/// <summary>Linear CKA between every teacher layer (rows) and every student layer (columns).</summary>
/// <param name="TeacherLayers">The teacher's layer paths, in network order.</param>
/// <param name="StudentLayers">The student's layer paths, in network order.</param>
/// <param name="Values">[teacher layers, student layers]; NaN where a layer is the same for every image.</param>
/// <param name="Examples">The images CKA was measured on.</param>
/// <param name="ImagesPerClass">Of those, per class (stratified).</param>
/// <param name="Seed">The seed of the stratified draw.</param>
public sealed record CkaMatrix(IReadOnlyList<string> TeacherLayers, IReadOnlyList<string> StudentLayers,
    double[,] Values, int Examples, int ImagesPerClass, int Seed);

/// <summary>Everything <see cref="DistillationDiagnostics.Run"/> measured, and the files it wrote.</summary>
/// <param name="DataSource">Where the test images came from.</param>
/// <param name="TestExamples">Test images behind fidelity and calibration.</param>
/// <param name="Teacher">The teacher.</param>
/// <param name="Student">The student.</param>
/// <param name="Fidelity">Agreement and KL of the student against the teacher.</param>
/// <param name="Cka">Representation similarity.</param>
/// <param name="Sets">Teacher knowledge and student fidelity on each set measured (the test set last).</param>
/// <param name="Files">The files written (diagnostics.md and the PNGs), full paths.</param>
public sealed record DiagnosticsReport(string DataSource, int TestExamples, ModelDiagnostics Teacher,
    ModelDiagnostics Student, FidelityResult Fidelity, CkaMatrix Cka,
    IReadOnlyList<ImageSetDiagnostics> Sets, IReadOnlyList<string> Files)
{
    /// <summary>The report as Markdown (what diagnostics.md holds).</summary>
    /// <param name="title">The first heading's text.</param>
    /// <returns>The Markdown text.</returns>
    public string ToMarkdown(string title = "Distillation diagnostics")
    {
        var md = new StringBuilder();
        Line(md, $"# {title}");
        Line(md);
        Line(md, $"Teacher: `{Teacher.Architecture}` ({Teacher.Parameters:N0} parameters). Student: `{Student.Architecture}` ({Student.Parameters:N0} parameters).");
        Line(md, $"Test data: {DataSource}, {TestExamples:N0} images.");
        Line(md);

        Line(md, $"## Fidelity (Stanton et al. 2021)");
        Line(md);
        Line(md, $"| metric | value |");
        Line(md, $"|---|---|");
        Line(md, $"| top-1 agreement, teacher vs student | {Percent(Fidelity.Agreement)} |");
        Line(md, $"| mean KL(teacher ‖ student), T = 1 | {Fidelity.MeanKL:0.0000} nats |");
        Line(md);
        if (Sets.Count > 1)
        {
            Line(md, $"By set of images (a student that matches its teacher on the images it trained on but not on others has learned the teacher's outputs there without its function; one that does not match it even there could not fit it):");
            Line(md);
            Line(md, $"| images | n | teacher accuracy | student accuracy | agreement | mean KL, T = 1 |");
            Line(md, $"|---|---|---|---|---|---|");
            foreach (ImageSetDiagnostics set in Sets)
                Line(md, $"| {set.Set} | {set.Fidelity.Examples:N0} | {Percent(set.TeacherKnowledge.Accuracy)} | {Percent(set.StudentAccuracy)} | {Percent(set.Fidelity.Agreement)} | {set.Fidelity.MeanKL:0.0000} |");
            Line(md);
        }

        int bins = Teacher.Calibration.Bins.Count;
        Line(md, $"## Calibration (ECE, {bins} equal-width bins; Guo et al. 2017)");
        Line(md);
        Line(md, $"| model | accuracy | mean confidence | ECE |");
        Line(md, $"|---|---|---|---|");
        foreach ((string role, ModelDiagnostics model) in new[] { ("teacher", Teacher), ("student", Student) })
        {
            CalibrationResult c = model.Calibration;
            Line(md, $"| {role} `{model.Architecture}` | {Percent(c.Accuracy)} | {Percent(c.MeanConfidence)} | {Percent(c.Ece)} |");
        }
        Line(md);
        Line(md, $"![reliability diagram](reliability-diagram.png)");
        Line(md);
        Line(md, $"| confidence bin | teacher images | teacher accuracy | teacher confidence | student images | student accuracy | student confidence |");
        Line(md, $"|---|---|---|---|---|---|---|");
        for (int m = 0; m < bins; m++)
        {
            ReliabilityBin t = Teacher.Calibration.Bins[m], s = Student.Calibration.Bins[m];
            if (t.Count == 0 && s.Count == 0) continue;
            Line(md, $"| ({t.Lower:0.000}, {t.Upper:0.000}] | {t.Count} | {Percent(t.Accuracy)} | {Percent(t.MeanConfidence)} | {s.Count} | {Percent(s.Accuracy)} | {Percent(s.MeanConfidence)} |");
        }
        Line(md);

        Line(md, $"## What the teacher's soft targets carry beyond the labels (Hinton et al. 2015)");
        Line(md);
        IReadOnlyList<SoftTargetStatistics> first = Sets[0].TeacherKnowledge.ByTemperature;
        Line(md, $"Mean entropy of softmax(z / T) (nats; at most ln C = {Math.Log(Sets[0].TeacherKnowledge.Classes):0.000}) and mean probability on the classes other than the label. KD trains on the training images, so their row is what a student receives.");
        Line(md);
        Line(md, $"| images | n | teacher accuracy | {string.Join(" | ", first.Select(s => $"T = {s.Temperature:0.##}: entropy, non-target mass"))} |");
        Line(md, $"|---|---|---|{string.Concat(Enumerable.Repeat("---|", first.Count))}");
        foreach (TeacherKnowledgeResult k in Sets.Select(s => s.TeacherKnowledge))
            Line(md, $"| {k.Set} | {k.Examples:N0} | {Percent(k.Accuracy)} | {string.Join(" | ", k.ByTemperature.Select(s => $"{s.MeanEntropy:0.000}, {Percent(s.NonTargetMass)}"))} |");
        Line(md);

        Line(md, $"## Representation similarity (linear CKA; Kornblith et al. 2019)");
        Line(md);
        Line(md, $"On {Cka.Examples:N0} test images ({Cka.ImagesPerClass} per class, stratified, seed {Cka.Seed}), features by module path (the models' feature layers and the embedding the head reads). Rows: teacher layers; columns: student layers. n/a: the layer is the same for every image.");
        Line(md);
        Line(md, $"| teacher \\ student | {string.Join(" | ", Cka.StudentLayers.Select(l => $"`{l}`"))} |");
        Line(md, $"|---|{string.Concat(Enumerable.Repeat("---|", Cka.StudentLayers.Count))}");
        for (int r = 0; r < Cka.TeacherLayers.Count; r++)
        {
            IEnumerable<string> cells = Enumerable.Range(0, Cka.StudentLayers.Count)
                .Select(c => double.IsNaN(Cka.Values[r, c]) ? "n/a" : Cka.Values[r, c].ToString("0.000", CultureInfo.InvariantCulture));
            Line(md, $"| `{Cka.TeacherLayers[r]}` | {string.Join(" | ", cells)} |");
        }
        Line(md);
        Line(md, $"![CKA heatmap](cka-heatmap.png)");
        return md.ToString();
    }

    /// <summary>A fraction as a percentage with two decimals ("-" for NaN), invariant culture.</summary>
    internal static string Percent(double value) =>
        double.IsNaN(value) ? "-" : (value * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    private static void Line(StringBuilder md) => md.Append('\n');

    private static void Line(StringBuilder md, FormattableString text) =>
        md.Append(FormattableString.Invariant(text)).Append('\n');
}
