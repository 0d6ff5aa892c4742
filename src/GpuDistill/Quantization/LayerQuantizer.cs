using GpuDistill.Compute;
using GpuDistill.Interop;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Quantization;

/// <summary>
/// The quantization state of one Conv2d or Linear layer of a <see cref="QuantizedModel"/>: its input activation's
/// range or learned step (saved with the model), and the fake quantization of its input and weight.
/// </summary>
/// <remarks>
/// State, by <see cref="ActivationScaling"/>: <c>activation_range</c> [2] (running min, max) or the parameter
/// <c>activation_step</c> [1] with <c>activation_signed</c>; <c>activation_observed</c> says whether any batch has
/// been seen. Weight scales are not state: they follow from the weights (max |W_k| / qmax) at every use.
/// </remarks>
internal sealed class LayerQuantizer : Module
{
    // Held for the process: a bare number would wrap a temporary Scalar the GC may free mid-call (see Scalars).
    private static readonly Scalar ZeroInteger = 0L.ToScalar();

    private readonly QuantizationOptions options;
    private readonly ComputeDevice? device;
    private readonly Tensor observed;
    private readonly Tensor? range;
    private readonly Parameter? step;
    private readonly Tensor? signed;

    public LayerQuantizer(string path, QuantizationOptions options, ComputeDevice? device)
        : base(nameof(LayerQuantizer))
    {
        Path = path;
        this.options = options;
        this.device = device;
        observed = zeros(1, ScalarType.Int64);
        register_buffer("activation_observed", observed);
        if (options.ActivationBits is null) return;
        if (options.ActivationScaling == ActivationScaling.Learned)
        {
            step = new Parameter(ones(1));
            signed = zeros(1, ScalarType.Int64);
            register_parameter("activation_step", step);
            register_buffer("activation_signed", signed);
        }
        else
        {
            range = zeros(2);
            register_buffer("activation_range", range);
        }
    }

    /// <summary>The state is registered by name in the constructor; the fields must not be registered again under theirs.</summary>
    protected override void RegisterComponents()
    {
    }

    /// <summary>The layer's module path in the wrapped model.</summary>
    public string Path { get; }

    /// <summary>Whether a batch has set the activation range or step (by training or calibration).</summary>
    public bool IsObserved => observed.data<long>()[0] != 0;

    /// <summary>Forgets the activation range (before a calibration).</summary>
    public void Reset()
    {
        using var noGrad = no_grad();
        observed.zero_();
    }

    /// <summary>Fake-quantizes the weight: symmetric per output channel, scales as <see cref="QuantizationOptions.WeightScaling"/> says.</summary>
    public Tensor QuantizeWeight(Tensor weight) => Quantize.FakeQuantizeWeights(weight, options.WeightBits, device, options.WeightScaling);

    /// <summary>The per-channel scales <see cref="QuantizeWeight"/> gives <paramref name="weight"/>, for export.</summary>
    public float[] WeightScales(Tensor weight) => Quantize.WeightScales(weight, options.WeightBits, device, options.WeightScaling);

    /// <summary>
    /// Fake-quantizes the layer's input, first folding this batch into the range (a moving average while training,
    /// the overall min and max while calibrating). Before any batch was observed, evaluation uses the batch's own
    /// range without keeping it.
    /// </summary>
    /// <param name="input">The layer's input.</param>
    /// <param name="training">Whether the layer is in training mode.</param>
    /// <param name="calibrating">Whether the model is being calibrated.</param>
    /// <returns>The fake-quantized input (the input itself when activations stay float).</returns>
    public Tensor QuantizeInput(Tensor input, bool training, bool calibrating)
    {
        if (options.ActivationBits is not int bits) return input;
        bool observe = training || calibrating;
        if (options.ActivationScaling == ActivationScaling.Learned)
        {
            if (observe && !IsObserved) InitialiseStep(input, bits);
            if (IsObserved)
            {
                CurrentStep();
                return Quantize.FakeQuantizeLearned(input, step!, LearnedGrid(bits, signed!.data<long>()[0] != 0), device);
            }
            // Not yet initialised (evaluation first): the step the first batch would get, not kept.
            (float start, IntegerGrid firstGrid) = StartingStep(input, bits);
            using Tensor temporary = tensor(new[] { start });
            return Quantize.FakeQuantizeLearned(input, temporary, firstGrid, device);
        }

        IntegerGrid grid = IntegerGrid.NonNegative(bits);
        (float lo, float hi) = observe || !IsObserved ? Observe(input, training && !calibrating, keep: observe) : StoredRange();
        (float scale, int zeroPoint) = QuantizationScales.Affine(lo, hi, grid);
        return Quantize.FakeQuantize(input, scale, zeroPoint, grid, device);
    }

    /// <summary>The activation quantization as it stands, for export.</summary>
    /// <exception cref="InvalidOperationException">No batch has been observed: train or calibrate first.</exception>
    public ActivationQuantization? Activation()
    {
        if (options.ActivationBits is not int bits) return null;
        if (!IsObserved)
            throw new InvalidOperationException($"Layer '{Path}' has no activation range yet: train the quantized model or call Calibrate first.");
        if (options.ActivationScaling == ActivationScaling.Learned)
            return new ActivationQuantization(CurrentStep(), 0, LearnedGrid(bits, signed!.data<long>()[0] != 0));
        (float lo, float hi) = StoredRange();
        IntegerGrid grid = IntegerGrid.NonNegative(bits);
        (float scale, int zeroPoint) = QuantizationScales.Affine(lo, hi, grid);
        return new ActivationQuantization(scale, zeroPoint, grid);
    }

    /// <summary>The weights' grid.</summary>
    public IntegerGrid WeightGrid => IntegerGrid.Symmetric(options.WeightBits);

    private static IntegerGrid LearnedGrid(int bits, bool negative) =>
        negative ? IntegerGrid.TwosComplement(bits) : IntegerGrid.NonNegative(bits);

    private (float Low, float High) StoredRange()
    {
        using Tensor values = range!.detach().clone();
        ReadOnlySpan<float> v = values.data<float>().ToArray();
        return (v[0], v[1]);
    }

    /// <summary>This batch's range folded into the stored one (moving average or overall extremes), kept when asked.</summary>
    private (float Low, float High) Observe(Tensor input, bool movingAverage, bool keep)
    {
        ValueRange batch = Quantize.Ranges(input, 1, device)[0];
        (float lo, float hi) = (batch.Minimum, batch.Maximum);
        if (IsObserved)
        {
            (float oldLo, float oldHi) = StoredRange();
            if (movingAverage)
            {
                float c = (float)options.RangeMomentum;
                (lo, hi) = (oldLo + c * (lo - oldLo), oldHi + c * (hi - oldHi));
            }
            else
            {
                (lo, hi) = (MathF.Min(oldLo, lo), MathF.Max(oldHi, hi));
            }
        }
        if (keep)
        {
            using var noGrad = no_grad();
            using Tensor kept = tensor(new[] { lo, hi });
            range!.copy_(kept);
            observed.fill_(Scalars.OneInteger);
        }
        return (lo, hi);
    }

    private void InitialiseStep(Tensor input, int bits)
    {
        (float start, IntegerGrid grid) = StartingStep(input, bits);
        using var noGrad = no_grad();
        using Tensor initial = tensor(new[] { start });
        step!.copy_(initial);
        signed!.fill_(grid.IsSigned ? Scalars.OneInteger : ZeroInteger);
        observed.fill_(Scalars.OneInteger);
    }

    /// <summary>The learned step a first batch gives (as <see cref="QuantizationOptions.LearnedStepStart"/> says), and
    /// its grid: unsigned when the batch has no negative value.</summary>
    private (float Step, IntegerGrid Grid) StartingStep(Tensor input, int bits)
    {
        ValueRange first = Quantize.Ranges(input, 1, device)[0];
        IntegerGrid grid = LearnedGrid(bits, first.Minimum < 0);
        float start = options.LearnedStepStart == LearnedStepStart.LeastError
            ? Quantize.LeastErrorScales(input, [QuantizationScales.Symmetric(first.AbsoluteMaximum, grid)], grid)[0]
            : QuantizationScales.LearnedInitialStep(first.MeanAbsolute, grid);
        return (start, grid);
    }

    /// <summary>The learned step, raised to the smallest scale if the optimiser pushed it to or below 0.</summary>
    private float CurrentStep()
    {
        float value = step!.detach().item<float>();
        if (value >= QuantizationScales.MinimumScale && float.IsFinite(value)) return value;
        using var noGrad = no_grad();
        float fixedValue = float.IsFinite(value) ? QuantizationScales.MinimumScale : 1f;
        using Tensor replacement = tensor(new[] { fixedValue });
        step.copy_(replacement);
        return fixedValue;
    }
}
