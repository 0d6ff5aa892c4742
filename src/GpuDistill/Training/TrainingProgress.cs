namespace GpuDistill.Training;

/// <summary>A progress report: after each step (<see cref="TestAccuracy"/> null) and after each epoch.</summary>
/// <param name="Run">The run's name.</param>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="Epochs">Epochs in the run.</param>
/// <param name="Step">Steps done in this epoch.</param>
/// <param name="Steps">Steps per epoch.</param>
/// <param name="Terms">Running means of the loss terms this epoch.</param>
/// <param name="TrainAccuracy">Running training accuracy this epoch.</param>
/// <param name="ImagesPerSecond">Training throughput this epoch.</param>
/// <param name="TestAccuracy">Test accuracy once the epoch is done.</param>
public sealed record TrainingProgress(string Run, int Epoch, int Epochs, int Step, int Steps,
    IReadOnlyDictionary<string, double> Terms, double TrainAccuracy, double ImagesPerSecond, double? TestAccuracy)
{
    /// <summary>A remark instead of a step's numbers (e.g. "resuming from epoch 3 of 12"); null for a step or an epoch.</summary>
    public string? Note { get; init; }

    /// <summary>A remark about <paramref name="run"/> at the start of <paramref name="epoch"/> (1-based).</summary>
    public static TrainingProgress Remark(string run, int epoch, int epochs, int steps, string note) =>
        new(run, epoch, epochs, 0, steps, new Dictionary<string, double>(), 0, 0, null) { Note = note };
}
