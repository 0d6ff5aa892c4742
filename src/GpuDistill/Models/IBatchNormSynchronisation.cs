using static TorchSharp.torch;

namespace GpuDistill.Models;

/// <summary>
/// Batch statistics shared with other processes (synchronised batch norm in a data-parallel run): a
/// <see cref="BatchNormalization2d"/> in training mode that has one normalises with them instead of its own batch's.
/// </summary>
public interface IBatchNormSynchronisation
{
    /// <summary>Normalises <paramref name="input"/> with the statistics of every process's batch together, updates
    /// the running statistics with them (in place, without gradient) and returns the output, with its graph.</summary>
    /// <param name="input">This process's maps [B, C, H, W].</param>
    /// <param name="runningMean">Running mean [C].</param>
    /// <param name="runningVar">Running (unbiased) variance [C].</param>
    /// <param name="weight">Scale [C]; null for none (1).</param>
    /// <param name="bias">Shift [C]; null for none (0).</param>
    /// <param name="momentum">Weight of the batch statistics in the running ones.</param>
    /// <param name="eps">Added to the variance.</param>
    /// <returns>The normalised maps.</returns>
    Tensor Normalise(Tensor input, Tensor runningMean, Tensor runningVar, Tensor? weight, Tensor? bias, double momentum, double eps);
}
