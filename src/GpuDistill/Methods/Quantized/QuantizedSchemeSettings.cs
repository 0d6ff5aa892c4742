using System.Globalization;
using GpuDistill.Quantization;

namespace GpuDistill.Methods;

/// <summary>
/// What every quantized-distillation scheme shares: the bit widths of the quantized model (8, 4 or 2 in the
/// issue's rows; any of 2..16), how activations get their scale, and the learning rate relative to the recipe's.
/// In a recipe under the scheme's name in <c>settings</c>; on the command line e.g. <c>--set quant-kd.weightBits=2</c>.
/// </summary>
public abstract record QuantizedSchemeSettings : MethodSettings
{
    /// <summary>Bits of the weights (symmetric per output channel; 2 is ternary), 2..16.</summary>
    public int WeightBits { get; init; } = 4;

    /// <summary>Bits of each quantized layer's input activations, 2..16; 0 keeps activations in float (weights only).</summary>
    public int ActivationBits { get; init; } = 4;

    /// <summary>How the weights' per-channel scales are found: <c>max</c> (no clipping) or <c>mse</c> (the clipping of least squared error).</summary>
    public WeightScaling WeightScaling { get; init; } = WeightScaling.Max;

    /// <summary>How the activation scales are found: a running range, or learned steps (LSQ).</summary>
    public ActivationScaling ActivationScaling { get; init; } = ActivationScaling.RunningRange;

    /// <summary>Where learned steps start: <c>meanAbsolute</c> (LSQ's 2 mean|x| / sqrt(Qp), for training from scratch) or
    /// <c>leastError</c> (the first batch's range of least quantization error, for fine-tuning trained weights).</summary>
    public LearnedStepStart LearnedStepStart { get; init; } = LearnedStepStart.MeanAbsolute;

    /// <summary>
    /// Bits of the first and the last layer (the image's convolution or layer, and the classifier), weights and
    /// inputs; 0 quantizes them like the rest. 8 is what LSQ, PACT and QKD do when they report a 4-bit network.
    /// </summary>
    public int EdgeLayerBits { get; init; }

    /// <summary>The quantized model's learning rate as a multiple of the recipe's, &gt; 0 (below 1 to fine-tune trained weights).</summary>
    public double LearningRateScale { get; init; } = 1.0;

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(WeightBits is >= 2 and <= 16, "weightBits", WeightBits, "2..16");
        Require(ActivationBits == 0 || ActivationBits is >= 2 and <= 16, "activationBits", ActivationBits, "0 (float) or 2..16");
        Require(EdgeLayerBits == 0 || EdgeLayerBits is >= 2 and <= 16, "edgeLayerBits", EdgeLayerBits, "0 (like the other layers) or 2..16");
        Require(Enum.IsDefined(WeightScaling), "weightScaling", WeightScaling, "max or mse");
        Require(Enum.IsDefined(ActivationScaling), "activationScaling", ActivationScaling, "runningRange or learned");
        Require(Enum.IsDefined(LearnedStepStart), "learnedStepStart", LearnedStepStart, "meanAbsolute or leastError");
        Require(LearningRateScale > 0 && double.IsFinite(LearningRateScale), "learningRateScale", LearningRateScale, "finite and > 0");
    }

    /// <summary>Throws an <see cref="ArgumentException"/> naming <paramref name="key"/> unless <paramref name="spec"/> is a loss spec.</summary>
    /// <param name="spec">The loss spec, e.g. <c>kd:0.9,ce:0.1</c>.</param>
    /// <param name="key">Its settings key, camel case.</param>
    protected static void RequireLoss(string spec, string key)
    {
        try
        {
            LossSpec.Parse(spec);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{key}: {e.Message}", key, e);
        }
    }

    /// <summary>The options <see cref="QuantizedModel.Wrap"/> takes: every Conv2d and Linear layer quantized.</summary>
    public QuantizationOptions ToOptions() => new()
    {
        WeightBits = WeightBits,
        ActivationBits = ActivationBits == 0 ? null : ActivationBits,
        ActivationScaling = ActivationScaling,
        WeightScaling = WeightScaling,
        LearnedStepStart = LearnedStepStart,
        EdgeLayerBits = EdgeLayerBits == 0 ? null : EdgeLayerBits,
    };

    /// <summary>A short name of the precision, as in the rows and checkpoint names: <c>w4a4</c>, <c>w2</c> (float
    /// activations), <c>w4a4-lsq</c> (learned steps; <c>w4a4-lsqle</c> started at the least-error range), <c>w4a4-mse</c> (least-error weight ranges), <c>w4a4-e8</c> (first
    /// and last layers at 8 bits), in that order when combined.</summary>
    public string Tag => string.Create(CultureInfo.InvariantCulture,
        $"w{WeightBits}{(ActivationBits == 0 ? "" : $"a{ActivationBits}")}{LearnedStepsTag}{(WeightScaling == WeightScaling.Mse ? "-mse" : "")}{(EdgeLayerBits == 0 ? "" : $"-e{EdgeLayerBits}")}");

    /// <summary>The tag's part for learned activation steps: <c>-lsq</c>, <c>-lsqle</c> (least-error start), or none.</summary>
    private string LearnedStepsTag =>
        ActivationBits == 0 || ActivationScaling != ActivationScaling.Learned ? ""
        : LearnedStepStart == LearnedStepStart.LeastError ? "-lsqle" : "-lsq";
}
