using GpuDistill.Data;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Diagnostics;

/// <summary>
/// Measures a trained teacher-student pair (issue 14, "Measuring the knowledge"): fidelity (agreement and KL),
/// calibration (ECE and a reliability diagram) and representation similarity (linear CKA between every teacher and
/// student layer), and writes diagnostics.md, reliability-diagram.png and cka-heatmap.png.
/// </summary>
/// <remarks>
/// For a single results row, <see cref="Fidelity.Measure"/> and <see cref="Calibration.Measure"/> are the cheap parts
/// (one pass over the test set each). CKA runs on a fixed stratified subset of the test set
/// (<see cref="DiagnosticsOptions.CkaImagesPerClass"/>) with the features of each model's
/// <see cref="DistillModel.FeatureLayers"/> and <see cref="DistillModel.EmbeddingLayer"/>, captured by module path.
/// </remarks>
public static class DistillationDiagnostics
{
    /// <summary>The Markdown report's file name.</summary>
    public const string ReportFile = "diagnostics.md";

    /// <summary>The reliability diagram's file name.</summary>
    public const string ReliabilityFile = "reliability-diagram.png";

    /// <summary>The CKA heatmap's file name.</summary>
    public const string HeatmapFile = "cka-heatmap.png";

    /// <summary>Measures the pair on <paramref name="testSet"/> and writes the report and plots.</summary>
    /// <param name="teacher">The teacher (run in evaluation mode; its mode is restored).</param>
    /// <param name="student">The student, likewise.</param>
    /// <param name="testSet">Labelled test images (never trained on).</param>
    /// <param name="outputDirectory">Where the files go; created when needed, files of the same names replaced.</param>
    /// <param name="options">Subset, bins, batch size and device; the defaults when null.</param>
    /// <param name="knowledgeSets">
    /// Further named image sets on which to measure the teacher's soft targets and the student's fidelity beside the
    /// test set (e.g. the images the pair trained on, and a held-out split); none when null.
    /// </param>
    /// <returns>The report.</returns>
    public static DiagnosticsReport Run(DistillModel teacher, DistillModel student, ImageDataset testSet,
        string outputDirectory, DiagnosticsOptions? options = null,
        IReadOnlyList<(string Name, ImageDataset Images)>? knowledgeSets = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(testSet);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        options ??= new DiagnosticsOptions();
        RequireOptions(options);
        if (testSet.Count == 0) throw new ArgumentException("testSet holds no images.", nameof(testSet));

        using var scope = NewDisposeScope();
        Tensor[] logits = ModelPasses.Logits([teacher, student], testSet, options.BatchSize);
        Tensor labels = ModelPasses.Labels(testSet);
        FidelityResult fidelity = Fidelity.FromLogits(logits[0], logits[1]);
        var teacherReport = new ModelDiagnostics(teacher.Architecture, teacher.ParameterCount,
            Calibration.FromLogits(logits[0], labels, options.CalibrationBins));
        var studentReport = new ModelDiagnostics(student.Architecture, student.ParameterCount,
            Calibration.FromLogits(logits[1], labels, options.CalibrationBins));
        CkaMatrix cka = MeasureCka(teacher, student, testSet, options);
        var sets = new List<ImageSetDiagnostics>();
        foreach ((string name, ImageDataset images) in knowledgeSets ?? [])
        {
            using var setScope = NewDisposeScope();
            Tensor[] setLogits = ModelPasses.Logits([teacher, student], images, options.BatchSize);
            sets.Add(MeasureSet(name, setLogits[0], setLogits[1], ModelPasses.Labels(images)));
        }
        sets.Add(MeasureSet("test", logits[0], logits[1], labels));

        string directory = Path.GetFullPath(outputDirectory);
        Directory.CreateDirectory(directory);
        string reliability = Path.Combine(directory, ReliabilityFile);
        string heatmap = Path.Combine(directory, HeatmapFile);
        string markdown = Path.Combine(directory, ReportFile);
        ReliabilityDiagram.Write(teacherReport.Calibration, studentReport.Calibration, reliability);
        CkaHeatmap.Write(cka, heatmap);
        var report = new DiagnosticsReport(testSet.Source, testSet.Count, teacherReport, studentReport, fidelity, cka,
            sets, [markdown, reliability, heatmap]);
        File.WriteAllText(markdown, report.ToMarkdown());
        return report;
    }

    /// <summary>The teacher's soft targets and the student's fidelity and accuracy on one set of images.</summary>
    private static ImageSetDiagnostics MeasureSet(string name, Tensor teacherLogits, Tensor studentLogits, Tensor labels)
    {
        using var scope = NewDisposeScope();
        double studentAccuracy = studentLogits.argmax(1).eq(labels).sum().item<long>() / (double)labels.shape[0];
        return new ImageSetDiagnostics(name, TeacherKnowledge.FromLogits(name, teacherLogits, labels),
            Fidelity.FromLogits(teacherLogits, studentLogits), studentAccuracy);
    }

    /// <summary>
    /// The cheap columns of a results row: the student's agreement and KL against the teacher, and its ECE and
    /// accuracy, from one pass of both models over <paramref name="testSet"/>.
    /// </summary>
    /// <param name="teacher">The teacher (run in evaluation mode; its mode is restored).</param>
    /// <param name="student">The trained student, likewise.</param>
    /// <param name="testSet">Labelled test images.</param>
    /// <param name="bins">M, the ECE's confidence bins.</param>
    /// <param name="batchSize">Images per forward pass.</param>
    /// <returns>The columns.</returns>
    public static ResultsRowDiagnostics ForResultsRow(DistillModel teacher, DistillModel student, ImageDataset testSet,
        int bins = Calibration.DefaultBins, int batchSize = Training.Evaluation.InferenceBatchSize)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(testSet);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        using var scope = NewDisposeScope();
        Tensor[] logits = ModelPasses.Logits([teacher, student], testSet, batchSize);
        FidelityResult fidelity = Fidelity.FromLogits(logits[0], logits[1]);
        CalibrationResult calibration = Calibration.FromLogits(logits[1], ModelPasses.Labels(testSet), bins);
        return new ResultsRowDiagnostics(fidelity.Agreement, fidelity.MeanKL, calibration.Ece, calibration.Accuracy);
    }

    /// <summary>
    /// The layers CKA compares for <paramref name="model"/>: its feature layers, then the embedding the head reads
    /// (once, when a feature layer is already that path).
    /// </summary>
    /// <param name="model">The model.</param>
    /// <returns>Module paths in network order.</returns>
    public static IReadOnlyList<string> CkaLayers(DistillModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return [.. model.FeatureLayers.Append(model.EmbeddingLayer).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>Linear CKA of every teacher layer against every student layer on the options' stratified subset.</summary>
    /// <param name="teacher">The teacher.</param>
    /// <param name="student">The student.</param>
    /// <param name="testSet">The test images the subset is drawn from.</param>
    /// <param name="options">Subset, batch size and device; the defaults when null.</param>
    /// <returns>The matrix, with the layer names and the subset's size.</returns>
    public static CkaMatrix MeasureCka(DistillModel teacher, DistillModel student, ImageDataset testSet,
        DiagnosticsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(testSet);
        options ??= new DiagnosticsOptions();
        RequireOptions(options);
        // The subset asked for, or as many per class as the smallest class holds (the embedded test set has 100).
        int perClass = Math.Min(options.CkaImagesPerClass, testSet.CountPerClass().Min());
        if (perClass < 1)
            throw new ArgumentException("testSet has a class with no images: the CKA subset is stratified over every class.", nameof(testSet));
        ImageDataset subset = testSet.StratifiedSample(perClass, options.CkaSeed, $"{testSet.Source}, CKA subset");

        using var scope = NewDisposeScope();
        IReadOnlyList<string> teacherLayers = CkaLayers(teacher), studentLayers = CkaLayers(student);
        Tensor[] teacherFeatures = ModelPasses.Features(teacher, teacherLayers, subset, options.BatchSize);
        Tensor[] studentFeatures = ModelPasses.Features(student, studentLayers, subset, options.BatchSize);
        double[,] values = RepresentationSimilarity.LinearCkaMatrix(teacherFeatures, studentFeatures, options.Device);
        return new CkaMatrix(teacherLayers, studentLayers, values, subset.Count, perClass, options.CkaSeed);
    }

    private static void RequireOptions(DiagnosticsOptions options)
    {
        if (options.CkaImagesPerClass < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.CkaImagesPerClass, "CkaImagesPerClass must be at least 1.");
        if (options.CalibrationBins < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.CalibrationBins, "CalibrationBins must be at least 1.");
        if (options.BatchSize < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "BatchSize must be at least 1.");
    }
}
