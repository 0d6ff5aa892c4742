using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// Batch normalisation of [N, F] rows with a learned shift and no scale, as TensorFlow's
/// <c>tf.contrib.layers.batch_norm</c> does by default (center = true, scale = false, eps = 1e-3), which the MHGD
/// reference code uses. Whether batch or running statistics are used is an argument of each call, not the module's
/// train/eval mode, so a frozen network stays frozen whatever mode the trainer sets.
/// </summary>
public sealed class CenteredNorm : Module
{
    private readonly TorchSharp.Modules.Parameter shift;
    private readonly Tensor runningMean;
    private readonly Tensor runningVar;
    private readonly double momentum;

    /// <summary>Creates the layer with shift 0 and running statistics 0 and 1.</summary>
    /// <param name="features">F.</param>
    /// <param name="momentum">Weight of a batch's statistics in the running ones (the reference's decay is
    /// 0.999 over 40 epochs; our stage is far shorter, so 0.1 as in torch).</param>
    public CenteredNorm(long features, double momentum = 0.1)
        : base(nameof(CenteredNorm))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(features);
        this.momentum = momentum;
        shift = new TorchSharp.Modules.Parameter(zeros(features));
        runningMean = zeros(features);
        runningVar = ones(features);
        register_parameter("bias", shift);
        register_buffer("running_mean", runningMean);
        register_buffer("running_var", runningVar);
    }

    /// <summary>The variance eps (TensorFlow's default).</summary>
    public const double Epsilon = 1e-3;

    /// <summary>The learned shift.</summary>
    public Tensor Shift => shift;

    /// <summary>The running mean.</summary>
    public Tensor RunningMean => runningMean;

    /// <summary>The running variance.</summary>
    public Tensor RunningVariance => runningVar;

    /// <summary>Normalises <paramref name="input"/> [N, F].</summary>
    /// <param name="input">Rows to normalise.</param>
    /// <param name="batchStatistics">Use (and fold into the running statistics) this batch's mean and variance;
    /// false uses the running statistics.</param>
    /// <returns>The normalised rows plus the shift.</returns>
    public Tensor Forward(Tensor input, bool batchStatistics) =>
        functional.batch_norm(input, runningMean, runningVar, null, shift, batchStatistics, momentum, Epsilon);
}
