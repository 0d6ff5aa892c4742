namespace GpuDistill.Training;

/// <summary>The record of one trained model.</summary>
/// <param name="Name">The run's name (e.g. "kd/small-cnn/seed1").</param>
/// <param name="Model">Model architecture name.</param>
/// <param name="Parameters">Trainable parameters of the model (adapters not included).</param>
/// <param name="Seed">The seed of the run.</param>
/// <param name="Loss">The weighted loss spec, e.g. "kd:0.9,ce:0.1".</param>
/// <param name="Epochs">Every finished epoch.</param>
/// <param name="AdapterParameters">Parameters of learned adapters (e.g. the FitNets regressor), trained with the student
/// and not part of it.</param>
public sealed record TrainingRun(string Name, string Model, long Parameters, int Seed, string Loss, IReadOnlyList<EpochRecord> Epochs,
    long AdapterParameters = 0)
{
    /// <summary>Test accuracy after the last epoch.</summary>
    public double FinalAccuracy => Epochs.Count == 0 ? double.NaN : Epochs[^1].TestAccuracy;

    /// <summary>Training wall time over all epochs (evaluation excluded).</summary>
    public double TrainSeconds => Epochs.Sum(e => e.Seconds);
}
