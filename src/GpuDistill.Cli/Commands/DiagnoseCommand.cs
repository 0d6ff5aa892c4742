using System.ComponentModel;
using System.Globalization;
using GpuDistill.Data;
using GpuDistill.Diagnostics;
using GpuDistill.Experiments;
using GpuDistill.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill diagnose --teacher FILE --teacher-arch NAME --student FILE --student-arch NAME [--data DIR] [--out DIR]</c>:
/// fidelity, calibration and CKA of a trained pair on the test set; writes diagnostics.md and the PNGs.
/// </summary>
internal sealed class DiagnoseCommand : Command<DiagnoseCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--teacher <FILE>")]
        [Description("The teacher's saved weights (e.g. runs/compare/teacher.pt).")]
        public string? Teacher { get; init; }

        [CommandOption("--teacher-arch <NAME>")]
        [Description("Architecture of the teacher's weights (default teacher-cnn).")]
        public string TeacherArchitecture { get; init; } = TeacherCnn.ArchitectureName;

        [CommandOption("--student <FILE>")]
        [Description("The student's saved weights (a checkpoint's epoch-N.model.pt or a saved model).")]
        public string? Student { get; init; }

        [CommandOption("--student-arch <NAME>")]
        [Description("Architecture of the student's weights (default small-cnn).")]
        public string StudentArchitecture { get; init; } = SmallCnn.ArchitectureName;

        [CommandOption("--data <DIR>")]
        [Description("Fashion-MNIST IDX directory; the embedded subset when absent.")]
        public string? Data { get; init; }

        [CommandOption("--out <DIR>")]
        [Description("Where diagnostics.md and the PNGs go (default: diagnostics).")]
        public string Out { get; init; } = "diagnostics";

        [CommandOption("--cka-per-class <N>")]
        [Description("Test images per class for CKA (default 200: 2,000 images).")]
        public int CkaImagesPerClass { get; init; } = DiagnosticsOptions.DefaultCkaImagesPerClass;

        [CommandOption("--train-per-class <N>")]
        [Description("Training images per class on which to measure the teacher's soft targets beside the test set (default 1000; 0: none).")]
        public int TrainImagesPerClass { get; init; } = 1000;

        [CommandOption("--validation <N>")]
        [Description("The validation split the pair was trained without (images per class, as in compare): measured apart from the training images.")]
        public int ValidationPerClass { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.CkaImagesPerClass < 1)
            throw new ArgumentException($"--cka-per-class must be at least 1; got {settings.CkaImagesPerClass}.");
        if (settings.TrainImagesPerClass < 0)
            throw new ArgumentException($"--train-per-class must be 0 or more; got {settings.TrainImagesPerClass}.");
        if (settings.ValidationPerClass < 0)
            throw new ArgumentException($"--validation must be 0 or more; got {settings.ValidationPerClass}.");
        using DistillModel teacher = Load(settings.Teacher, "--teacher", settings.TeacherArchitecture, "--teacher-arch");
        using DistillModel student = Load(settings.Student, "--student", settings.StudentArchitecture, "--student-arch");
        (ImageDataset train, ImageDataset test) = FashionMnist.Load(settings.Data);
        var options = new DiagnosticsOptions { CkaImagesPerClass = settings.CkaImagesPerClass };
        DiagnosticsReport report = DistillationDiagnostics.Run(teacher, student, test, settings.Out, options,
            KnowledgeSets(train, settings.TrainImagesPerClass, settings.ValidationPerClass));

        var table = new Table().AddColumn("metric").AddColumn("teacher").AddColumn("student");
        table.AddRow("architecture", Markup.Escape(teacher.Architecture), Markup.Escape(student.Architecture));
        table.AddRow("test accuracy", Percent(report.Teacher.Calibration.Accuracy), Percent(report.Student.Calibration.Accuracy));
        table.AddRow($"ECE ({report.Teacher.Calibration.Bins.Count} bins)", Percent(report.Teacher.Calibration.Ece), Percent(report.Student.Calibration.Ece));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"top-1 agreement [bold]{Percent(report.Fidelity.Agreement)}[/], mean KL(teacher || student) [bold]{report.Fidelity.MeanKL.ToString("0.0000", CultureInfo.InvariantCulture)}[/] nats on {report.TestExamples} test images ({Markup.Escape(test.Source)})");
        AnsiConsole.MarkupLine($"linear CKA on {report.Cka.Examples} images: {report.Cka.TeacherLayers.Count} teacher x {report.Cka.StudentLayers.Count} student layers");
        foreach (ImageSetDiagnostics set in report.Sets)
        {
            TeacherKnowledgeResult k = set.TeacherKnowledge;
            SoftTargetStatistics at4 = k.ByTemperature.FirstOrDefault(s => s.Temperature == 4) ?? k.ByTemperature[^1];
            AnsiConsole.MarkupLine($"{Markup.Escape(set.Set)} ({k.Examples} images): teacher {Percent(k.Accuracy)}, student {Percent(set.StudentAccuracy)}, agreement {Percent(set.Fidelity.Agreement)}; teacher's non-target mass at T = {at4.Temperature.ToString(CultureInfo.InvariantCulture)} {Percent(at4.NonTargetMass)}");
        }
        foreach (string file in report.Files) AnsiConsole.MarkupLine($"wrote {Markup.Escape(file)}");
        return 0;
    }

    /// <summary>
    /// The training images the teacher learned from (a stratified sample, the validation split left out as compare
    /// leaves it out) and the validation split itself, on which the report measures the teacher's soft targets.
    /// </summary>
    private static List<(string Name, ImageDataset Images)> KnowledgeSets(ImageDataset train, int perClass, int validationPerClass)
    {
        var sets = new List<(string, ImageDataset)>();
        ImageDataset seen = train;
        ImageDataset? heldOut = null;
        if (validationPerClass > 0)
        {
            if (validationPerClass >= train.CountPerClass().Min())
                throw new ArgumentException($"--validation {validationPerClass} leaves a class with no training images (the smallest class holds {train.CountPerClass().Min()}).");
            (seen, heldOut) = train.SplitStratified(validationPerClass, Experiment.ValidationSeed);
        }
        if (perClass > 0)
            sets.Add((heldOut is null ? "training images" : "training images (the pair trained on them)", Sample(seen, perClass)));
        if (heldOut is not null) sets.Add(("validation split (held out)", heldOut));
        return sets;
    }

    private static ImageDataset Sample(ImageDataset images, int perClass) =>
        images.StratifiedSample(Math.Min(perClass, images.CountPerClass().Min()), DiagnosticsOptions.DefaultCkaSeed, $"{images.Source}, sample");

    /// <summary>Builds the architecture and loads the weights, naming the option at fault when either fails.</summary>
    private static DistillModel Load(string? path, string pathOption, string architecture, string architectureOption)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new ArgumentException($"{pathOption} FILE is required: the saved weights to diagnose.");
        if (!ModelFactory.IsKnown(architecture))
            throw new ArgumentException($"{architectureOption}: {ModelFactory.UnknownMessage(architecture)}");
        DistillModel model = ModelFactory.Create(architecture, 0);
        try
        {
            if (!Checkpoint.TryLoad(model, path))
                throw new FileNotFoundException($"{pathOption}: no weights at '{Path.GetFullPath(path)}'.", path);
        }
        catch (InvalidDataException e)
        {
            model.Dispose();
            throw new InvalidDataException($"{pathOption} does not hold {architecture} weights ({architectureOption} {architecture}): {e.Message}", e);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    private static string Percent(double value) => (value * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";
}
