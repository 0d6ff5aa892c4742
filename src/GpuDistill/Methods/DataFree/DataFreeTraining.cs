using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Diagnostics;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// Data-free distillation through the one trainer: the student learns only from a generator's images
/// (<see cref="GeneratorBatchSource"/>), the training set it is given is <see cref="ImageDataset.Withheld"/> (any read
/// throws), and only the test set is read, for evaluation.
/// </summary>
public static class DataFreeTraining
{
    /// <summary>Trains <paramref name="student"/> on <paramref name="source"/>'s images with <paramref name="loss"/>
    /// (the teacher runs live on each generated batch) and returns its record.</summary>
    /// <param name="options">The student's schedule (its batch size is the source's).</param>
    /// <param name="progress">Receives the trainer's progress.</param>
    /// <param name="source">The generator-backed batches (checkpointed with the student).</param>
    /// <param name="runName">The run's name.</param>
    /// <param name="student">The student (its weights change).</param>
    /// <param name="loss">The student's weighted terms.</param>
    /// <param name="train">Must be <see cref="ImageDataset.Withheld"/>: a data-free run reads no training image.</param>
    /// <param name="test">The test set (accuracy after each epoch).</param>
    /// <param name="checkpointDirectory">Where the student's and the generator's checkpoint goes; null for none.</param>
    /// <param name="resume">Continue from the last completed epoch.</param>
    /// <param name="cancellationToken">Stops after the current step.</param>
    /// <returns>The student's record.</returns>
    /// <exception cref="ArgumentException"><paramref name="train"/> holds images.</exception>
    public static TrainingRun Fit(TrainingOptions options, IProgress<TrainingProgress>? progress, GeneratorBatchSource source,
        string runName, DistillModel student, WeightedLoss loss, ImageDataset train, ImageDataset test,
        string? checkpointDirectory, bool resume, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(loss);
        RequireWithheld(train);
        using TeacherOutputs teacher = TeacherOutputs.Create(source.Teacher, train, cache: false);
        return new Trainer(options, progress, source).Fit(runName, student, loss, train, test, loss.NeedsTeacher ? teacher : null,
            checkpointDirectory, resume, cancellationToken);
    }

    /// <summary>Throws unless <paramref name="train"/> is a withheld training set.</summary>
    /// <param name="train">The training set a data-free run was given.</param>
    /// <exception cref="ArgumentException">It holds images.</exception>
    public static void RequireWithheld(ImageDataset train)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (!train.IsWithheld)
        {
            throw new ArgumentException(
                $"A data-free run reads no training image, but it was given a labelled training set ({train.Source}, {train.Count} images); pass ImageDataset.Withheld(height, width, classes, reason) instead.",
                nameof(train));
        }
    }

    /// <summary>
    /// Runs a data-free scheme for one student and seed: a new generator, the method's game, the student trained by
    /// the trainer on the generator's images (checkpointed together, resumable), then the grid of generated images
    /// (<c>generated/NAME-STUDENT-seedN.png</c> in the output directory) and the row, whose note says how many images
    /// were generated.
    /// </summary>
    internal static IReadOnlyList<SchemeRow> RunScheme(SchemeContext context, string name, string student, int seed,
        GeneratorSettings settings, int generatorClasses, Func<DistillModel, IGeneratorGame> createGame, WeightedLoss loss,
        (double Beta1, double Beta2)? betas = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        ImageDataset withheld = ImageDataset.Withheld(context.Train.Height, context.Train.Width, context.Train.ClassCount, $"data-free run '{name}'");
        using ImageGenerator generator = settings.CreateGenerator(seed, generatorClasses);
        using DistillModel model = ModelFactory.Create(student, seed);
        IGeneratorGame game = createGame(model);
        try
        {
            using GeneratorBatchSource source = settings.CreateSource(generator, context.Teacher, game, settings.StepsPerEpoch, seed, betas);
            TrainingOptions options = context.Recipe.Training.ToOptions(seed, augment: false);
            string directory = context.ClaimDirectory(name, student, seed, loss, scheme: name, options: options);
            TrainingRun run = Fit(options, context.Progress, source,
                $"{name}/{student}/seed{seed}", model, loss, withheld, context.Test, directory, context.Resume, context.CancellationToken);
            (long images, long steps) = KeepFinalGenerator(source, directory);
            string png = Path.Combine(context.OutputDirectory, "generated", $"{name}-{student}-seed{seed}.png");
            Directory.CreateDirectory(Path.GetDirectoryName(png)!);
            int[] filled = GeneratedImageGrid.Write(generator, context.Teacher, png, settings.GridImagesPerClass, seed);
            context.Log($"{name}/{student}/seed{seed}: generated images per class in {png} (teacher's classes filled: {string.Join(' ', filled)})");
            string note = $"data-free: {images:N0} generated images, {steps:N0} generator steps, no training image read";
            return [new SchemeRow("", run, note, context.Fidelity(model))];
        }
        finally
        {
            (game as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// Keeps the final generator beside the checkpoint, so a finished run that is reused later (the trainer restores
    /// no batch source for it) still draws its grid with the trained generator and reports its image count.
    /// </summary>
    internal static (long Images, long Steps) KeepFinalGenerator(GeneratorBatchSource source, string directory)
    {
        string weights = Path.Combine(directory, "final.generator.pt"), counts = Path.Combine(directory, "final.generator.json");
        if (source.GeneratorSteps == 0 && source.ImagesGenerated == 0 && File.Exists(counts) && Checkpoint.TryLoad(source.Generator, weights))
        {
            long[] saved = JsonSerializer.Deserialize<long[]>(File.ReadAllText(counts))!;
            return (saved[0], saved[1]);
        }
        Directory.CreateDirectory(directory);
        Checkpoint.SaveAtomic(source.Generator, weights);
        AtomicFile.WriteAllText(counts, JsonSerializer.Serialize(new[] { source.ImagesGenerated, source.GeneratorSteps }));
        return (source.ImagesGenerated, source.GeneratorSteps);
    }
}
