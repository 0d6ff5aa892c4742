using System.Globalization;

namespace GpuDistill.Quantization;

/// <summary>How a quantized layer's input activations get their scale.</summary>
public enum ActivationScaling
{
    /// <summary>
    /// Asymmetric per tensor, from a running range: an exponential moving average of each training batch's min and
    /// max (PyTorch's MovingAverageMinMaxObserver; the first batch sets it), frozen in evaluation.
    /// </summary>
    RunningRange,

    /// <summary>
    /// LSQ (Esser et al. 2020): a learned step size per tensor with zero point 0, initialised from the first batch
    /// (2 mean|x| / sqrt(Qp)); unsigned when that batch had no negative value, signed otherwise.
    /// </summary>
    Learned,
}

/// <summary>Where a learned activation step (<see cref="ActivationScaling.Learned"/>) starts, from the first batch a layer sees.</summary>
public enum LearnedStepStart
{
    /// <summary>LSQ's own start, 2 mean|x| / sqrt(Qp) (Esser et al. 2020): right for training from scratch, where
    /// activations are small and unsettled; on a trained network it clips the wide activations hard.</summary>
    MeanAbsolute,

    /// <summary>
    /// The step r max|x| / Qp, r in {1, 0.95, ..., 0.2}, of least squared quantization error on the first batch (the
    /// "MSE" range setting of Nagel et al. 2021's white paper, as <see cref="WeightScaling.Mse"/> does for weights):
    /// the start for fine-tuning a trained network, which then moves the step by LSQ's gradient.
    /// </summary>
    LeastError,
}

/// <summary>How a quantized layer's weights get their per-output-channel scales.</summary>
public enum WeightScaling
{
    /// <summary>s_k = max|W_k| / qmax: no weight is clipped (PyTorch's per-channel min-max observer).</summary>
    Max,

    /// <summary>
    /// s_k = r max|W_k| / qmax with the clipping ratio r in {1, 0.95, ..., 0.2} that gives the smallest squared error
    /// between W_k and its fake-quantized value, chosen again at every use: the "MSE" weight range of the
    /// quantization literature (Nagel et al. 2021's white paper; Banner et al. 2019). At 4 bits and below the largest
    /// weights set a step that rounds most of the others to 0 or one level; clipping a few buys finer steps for the rest.
    /// </summary>
    Mse,
}

/// <summary>What <see cref="QuantizedModel.Wrap"/> quantizes, and how (loss-spec-2 8.1's defaults).</summary>
public sealed record QuantizationOptions
{
    /// <summary>Bits of the weights, 2..16: symmetric per output channel on [-(2^(b-1) - 1), 2^(b-1) - 1] (2 = ternary).</summary>
    public int WeightBits { get; init; } = 8;

    /// <summary>How the weights' per-channel scales are found.</summary>
    public WeightScaling WeightScaling { get; init; } = WeightScaling.Max;

    /// <summary>Bits of each quantized layer's input activations, 2..16; null keeps activations in float (weights only).</summary>
    public int? ActivationBits { get; init; } = 8;

    /// <summary>How activation scales are found.</summary>
    public ActivationScaling ActivationScaling { get; init; } = ActivationScaling.RunningRange;

    /// <summary>Where learned steps start (with <see cref="ActivationScaling.Learned"/>; not state: a trained step is saved as it is).</summary>
    public LearnedStepStart LearnedStepStart { get; init; } = LearnedStepStart.MeanAbsolute;

    /// <summary>The moving average's weight of each new batch's range (PyTorch's averaging constant, 0.01), in (0, 1].</summary>
    public double RangeMomentum { get; init; } = 0.01;

    /// <summary>
    /// Module paths of the layers to quantize (Conv2d or Linear, as <c>named_modules</c> names them, e.g.
    /// <c>stage1.0</c> or <c>head</c>); null quantizes every Conv2d and Linear of the model.
    /// </summary>
    public IReadOnlyList<string>? Layers { get; init; }

    /// <summary>
    /// Bits of the first and the last quantized layer a forward pass runs (the layer that reads the image and the
    /// classifier), for their weights and, when activations are quantized, their inputs; null quantizes them like the
    /// rest. 8 is the quantization-aware-training literature's usual choice (LSQ, PACT, QKD keep these two
    /// layers at 8 bits when they report a "4-bit network"): the image's 256 grey levels and the class scores are where
    /// a narrow grid costs most for the fewest parameters.
    /// </summary>
    public int? EdgeLayerBits { get; init; }

    /// <summary>Throws on a bit width outside 2..16 or a momentum outside (0, 1], naming the option.</summary>
    public void Validate()
    {
        IntegerGrid.RequireBits(WeightBits, nameof(WeightBits));
        if (ActivationBits is int bits) IntegerGrid.RequireBits(bits, nameof(ActivationBits));
        if (EdgeLayerBits is int edge) IntegerGrid.RequireBits(edge, nameof(EdgeLayerBits));
        if (!Enum.IsDefined(WeightScaling))
            throw new ArgumentOutOfRangeException(nameof(WeightScaling), WeightScaling, "unknown weight scaling.");
        if (!Enum.IsDefined(ActivationScaling))
            throw new ArgumentOutOfRangeException(nameof(ActivationScaling), ActivationScaling, "unknown activation scaling.");
        if (!Enum.IsDefined(LearnedStepStart))
            throw new ArgumentOutOfRangeException(nameof(LearnedStepStart), LearnedStepStart, "unknown learned-step start.");
        if (!(RangeMomentum > 0 && RangeMomentum <= 1))
            throw new ArgumentOutOfRangeException(nameof(RangeMomentum), RangeMomentum, "the range momentum must be in (0, 1].");
        if (Layers is not null && (Layers.Count == 0 || Layers.Any(string.IsNullOrWhiteSpace)))
            throw new ArgumentException("Layers must be null (every Conv2d and Linear) or name at least one layer, none blank.", nameof(Layers));
    }

    /// <summary>The options of one layer: <see cref="EdgeLayerBits"/> replaces the widths of an edge layer.</summary>
    /// <param name="edge">Whether the layer is the first or the last quantized one.</param>
    /// <returns>These options, or the edge layers' widths with <see cref="EdgeLayerBits"/> cleared.</returns>
    public QuantizationOptions ForLayer(bool edge) => edge && EdgeLayerBits is int bits
        ? this with { WeightBits = bits, ActivationBits = ActivationBits is null ? null : bits, EdgeLayerBits = null }
        : this;

    /// <inheritdoc/>
    public override string ToString()
    {
        string widths = ActivationBits is int a
            ? string.Create(CultureInfo.InvariantCulture, $"{WeightBits}-bit weights, {a}-bit activations ({ActivationScaling})")
            : string.Create(CultureInfo.InvariantCulture, $"{WeightBits}-bit weights, float activations");
        if (ActivationBits is not null && ActivationScaling == ActivationScaling.Learned && LearnedStepStart == LearnedStepStart.LeastError)
            widths += ", steps started at the least-error range";
        if (WeightScaling == WeightScaling.Mse) widths += ", weight ranges by least squared error";
        return EdgeLayerBits is int edge
            ? string.Create(CultureInfo.InvariantCulture, $"{widths}; first and last layers {edge}-bit")
            : widths;
    }
}
