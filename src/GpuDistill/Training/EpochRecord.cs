namespace GpuDistill.Training;

/// <summary>One finished epoch of one run.</summary>
/// <param name="Epoch">1-based epoch.</param>
/// <param name="TrainLoss">Mean weighted training loss.</param>
/// <param name="Terms">Mean of each (unweighted) loss term.</param>
/// <param name="TestAccuracy">Top-1 accuracy on the test set, in [0, 1].</param>
/// <param name="Seconds">Wall time of the epoch's training steps.</param>
/// <param name="Split">Where the step time went.</param>
public sealed record EpochRecord(int Epoch, double TrainLoss, IReadOnlyDictionary<string, double> Terms,
    double TestAccuracy, double Seconds, StepTimeSplit Split);

/// <summary>Seconds spent, over an epoch, in each part of the training step.</summary>
/// <param name="Teacher">Teacher forward passes (0 when its outputs were cached).</param>
/// <param name="StudentForward">Student forward passes.</param>
/// <param name="Loss">Loss terms (the fused kernels).</param>
/// <param name="BackwardAndStep">Backward pass and optimiser step.</param>
/// <param name="Batches">Making the batches: reading and augmenting real images, or a generator's steps and images
/// (0 in results written before it was measured).</param>
public sealed record StepTimeSplit(double Teacher, double StudentForward, double Loss, double BackwardAndStep, double Batches = 0)
{
    /// <summary>The sum of the parts.</summary>
    public double Total => Teacher + StudentForward + Loss + BackwardAndStep + Batches;
}
