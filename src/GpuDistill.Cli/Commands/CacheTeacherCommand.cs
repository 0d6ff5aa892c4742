using System.ComponentModel;
using System.Diagnostics;
using GpuDistill.Caching;
using GpuDistill.Data;
using GpuDistill.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>gpudistill cache-teacher --model FILE --arch NAME [--features LIST] [--top-k K] --out DIR</c>: runs a teacher
/// once over the training set and writes its outputs as Parquet (docs/teacher-cache.md), for
/// <c>distill --teacher-cache DIR</c>.
/// </summary>
internal sealed class CacheTeacherCommand : Command<CacheTeacherCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandOption("--model <FILE>")]
        [Description("The teacher's saved weights (e.g. runs/compare/teacher/.../teacher.pt).")]
        public string Model { get; init; } = "";

        [CommandOption("--arch <NAME>")]
        [Description("The teacher's architecture (default teacher-cnn).")]
        public string Architecture { get; init; } = "teacher-cnn";

        [CommandOption("--data <DIR>")]
        [Description("Fashion-MNIST IDX directory; the embedded subset when absent.")]
        public string? Data { get; init; }

        [CommandOption("--features <LIST>")]
        [Description("Comma-separated teacher layers to store beside the logits, e.g. stage3,head:in.")]
        public string? Features { get; init; }

        [CommandOption("--top-k <K>")]
        [Description("Store only the K largest logits of each image, with their class ids (default: all).")]
        public int? TopK { get; init; }

        [CommandOption("--row-group-rows <N>")]
        [Description("Rows per Parquet row group, what training decodes at once (default 4096).")]
        public int RowGroupRows { get; init; } = 4096;

        [CommandOption("--out <DIR>")]
        [Description("The cache directory.")]
        public string Out { get; init; } = "";

        public override ValidationResult Validate()
        {
            if (string.IsNullOrWhiteSpace(Model)) return ValidationResult.Error("--model: the teacher's weights file is required.");
            if (string.IsNullOrWhiteSpace(Out)) return ValidationResult.Error("--out: the cache directory is required.");
            if (TopK is < 1) return ValidationResult.Error($"--top-k: expected at least 1; got {TopK}.");
            if (RowGroupRows < 1) return ValidationResult.Error($"--row-group-rows: expected at least 1; got {RowGroupRows}.");
            return ValidationResult.Success();
        }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using DistillModel teacher = ModelFactory.Create(settings.Architecture, 0);
        if (!Checkpoint.TryLoad(teacher, settings.Model))
            throw new FileNotFoundException($"--model: no {settings.Architecture} weights at '{settings.Model}'.", settings.Model);
        (ImageDataset train, _) = FashionMnist.Load(settings.Data);
        var options = new TeacherCacheOptions
        {
            Layers = settings.Features?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [],
            TopK = settings.TopK,
            RowGroupRows = settings.RowGroupRows,
        };
        var clock = Stopwatch.StartNew();
        TeacherCacheManifest manifest = TeacherCacheWriter.Write(teacher, train, settings.Out, options);
        long bytes = manifest.Files.Sum(f => f.Bytes);
        AnsiConsole.MarkupLine(Markup.Escape(
            $"{manifest.DatasetCount} rows of {settings.Architecture} outputs ({(manifest.TopK is int k ? $"top {k} logits" : $"{manifest.Classes} logits")}" +
            $"{string.Concat(manifest.Layers.Select(l => $", {l.Layer} [{string.Join("x", l.Shape)}]"))}) in {manifest.Files.Count} Parquet file(s), " +
            $"{bytes / 1e6:N1} MB, {clock.Elapsed.TotalSeconds:N1} s -> {settings.Out}"));
        return 0;
    }
}
