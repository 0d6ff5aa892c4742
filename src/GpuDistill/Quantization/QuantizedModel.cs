using GpuDistill.Compute;
using GpuDistill.Models;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Quantization;

/// <summary>
/// Any model of the library with its Conv2d and Linear layers fake-quantized for quantization-aware training
/// (loss-spec-2 8.1), without rewriting the model: each layer is found by module path and hooked, so its input is
/// fake-quantized per tensor and the layer runs with weights fake-quantized per output channel. It is a
/// <see cref="DistillModel"/>: the trainer, the losses and feature capture use it like the float model.
/// </summary>
/// <remarks>
/// <para>
/// The wrapped model is registered as submodule <c>model</c> (its state keys and layer paths gain a <c>model.</c>
/// prefix; <see cref="FeatureLayers"/> and <see cref="EmbeddingLayer"/> carry it) and each layer's quantizer under
/// <c>quantizers</c>, so <see cref="Checkpoint"/> saves and loads weights, activation ranges and learned steps
/// together. To start from trained float weights, load them into the model before wrapping it.
/// </para>
/// <para>
/// How: a forward pre-hook replaces the layer's input by its fake-quantized value, and a forward hook replaces the
/// layer's output by the same layer computed from that input with the fake-quantized weight. Hooks are the only way
/// in that leaves the model's code alone, and a hook cannot skip the layer's own forward: each quantized layer's
/// float forward still runs once and is discarded (measured in perf/, <c>--only fake-quant</c>).
/// </para>
/// </remarks>
public sealed class QuantizedModel : DistillModel
{
    private const string ModelPrefix = "model.";
    private const string EdgeBitsName = "quantization_edge_bits";
    private const string MseWeightsName = "quantization_mse_weights";

    private readonly DistillModel model;
    private readonly ModuleDict<LayerQuantizer> quantizers;

    // Weight and activation bits (0: float activations), saved with the state so a checkpoint says what it was trained with.
    [ComponentName(Name = "quantization_bits")]
    private readonly Tensor bits;
    private readonly List<Action> removeHooks = [];
    private bool calibrating;

    private QuantizedModel(DistillModel model, QuantizationOptions options, ComputeDevice? device)
        : base(model.Architecture)
    {
        this.model = model;
        Options = options;
        quantizers = new ModuleDict<LayerQuantizer>();
        bits = tensor(new long[] { options.WeightBits, options.ActivationBits ?? 0 });

        Dictionary<string, Module> modules = model.named_modules()
            .Where(m => m.name.Length > 0)
            .ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        IReadOnlyList<string> layers = options.Layers
            ?? [.. modules.Where(m => IsQuantizable(m.Value)).Select(m => m.Key)];
        if (layers.Count == 0)
            throw new ArgumentException($"{model.Architecture} has no Conv2d or Linear layer to quantize.", nameof(model));
        string[] distinct = [.. layers.Distinct(StringComparer.Ordinal)];
        (string First, string Last)? edges = options.EdgeLayerBits is null ? null : FindEdgeLayers(model, modules, distinct);
        foreach (string path in distinct)
        {
            if (!modules.TryGetValue(path, out Module? layer))
            {
                throw new ArgumentException(
                    $"Layer '{path}' is not a submodule of {model.Architecture}; its Conv2d and Linear layers are: {string.Join(", ", modules.Where(m => IsQuantizable(m.Value)).Select(m => m.Key))}.",
                    nameof(options));
            }
            var quantizer = new LayerQuantizer(path, options.ForLayer(edge: edges is { } e && (path == e.First || path == e.Last)), device);
            string key = path.Replace('.', '_');
            if (quantizers.ContainsKey(key))
                throw new ArgumentException($"Layers '{path}' and '{quantizers[key].Path}' would share the state name '{key}'.", nameof(options));
            quantizers.Add(key, quantizer);
            Hook(layer, path, quantizer);
        }
        QuantizedLayers = distinct;
        EdgeLayers = edges is { } found ? [found.First, found.Last] : [];
        // Only when set, so checkpoints saved before the option existed (all layers alike) still load.
        if (options.EdgeLayerBits is int edgeBits) register_buffer(EdgeBitsName, tensor(new long[] { edgeBits }));
        // A marker, present only with least-error weight ranges, so such a checkpoint loads only into a wrapper that
        // quantizes its weights the same way (older checkpoints, all max ranges, load as before).
        if (options.WeightScaling == WeightScaling.Mse) register_buffer(MseWeightsName, ones(1, ScalarType.Int64));
        // After the quantizers are in: a ModuleDict registers its entries when it is itself registered.
        RegisterComponents();
    }

    /// <summary>Wraps <paramref name="model"/>; the new object owns it (disposing this disposes the model).</summary>
    /// <param name="model">A model of the library (or any <see cref="DistillModel"/> whose layers are Conv2d or Linear modules).</param>
    /// <param name="options">Bits, activation scaling and layers.</param>
    /// <param name="device">Accelerator of the fake-quant passes; <see cref="ComputeDevice.Default"/> when null.</param>
    /// <returns>The quantized model, in the mode (training or evaluation) of <paramref name="model"/>.</returns>
    /// <exception cref="ArgumentException">A layer path that names no module or a module that is not Conv2d or Linear.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A bit width outside 2..16 (named).</exception>
    /// <exception cref="NotSupportedException">A convolution with a padding mode other than zeros.</exception>
    public static QuantizedModel Wrap(DistillModel model, QuantizationOptions options, ComputeDevice? device = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (model is QuantizedModel)
            throw new ArgumentException("The model is already quantized.", nameof(model));
        options.Validate();
        var wrapped = new QuantizedModel(model, options, device);
        wrapped.train(model.training);
        return wrapped;
    }

    /// <summary>The float model this wraps (its weights are the ones that train).</summary>
    public DistillModel Model => model;

    /// <summary>The options it was wrapped with.</summary>
    public QuantizationOptions Options { get; }

    /// <summary>Module paths (in <see cref="Model"/>) of the quantized layers: as <see cref="QuantizationOptions.Layers"/> gives them, else in the order of <c>named_modules</c> (registration order, not always the forward pass's).</summary>
    public IReadOnlyList<string> QuantizedLayers { get; }

    /// <inheritdoc/>
    public override string Description => $"{model.Description}; fake-quantized: {Options}";

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureNames => model.FeatureNames;

    /// <inheritdoc/>
    public override long EmbeddingSize => model.EmbeddingSize;

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureLayers => [.. model.FeatureLayers.Select(p => ModelPrefix + p)];

    /// <inheritdoc/>
    public override string EmbeddingLayer => ModelPrefix + model.EmbeddingLayer;

    /// <summary>The activation quantization of a quantized layer as it stands (null when activations stay float).</summary>
    /// <param name="path">One of <see cref="QuantizedLayers"/>.</param>
    /// <returns>Scale, zero point and grid.</returns>
    /// <exception cref="InvalidOperationException">The layer has seen no batch yet: train or <see cref="Calibrate"/> first.</exception>
    public ActivationQuantization? ActivationOf(string path) => Quantizer(path).Activation();

    /// <summary>
    /// The weight and activation bits (0: float activations) held in the state: those of <see cref="Options"/>, or,
    /// after <see cref="Checkpoint.TryLoad"/>, those the checkpoint was saved with (the bit widths do not change the
    /// state's shapes, so a checkpoint of other widths loads; compare this with <see cref="Options"/>).
    /// </summary>
    public (int WeightBits, int ActivationBits) BitsInState
    {
        get
        {
            long[] values = bits.data<long>().ToArray();
            return ((int)values[0], (int)values[1]);
        }
    }

    /// <summary>
    /// The edge layers' bits held in the state (<see cref="QuantizationOptions.EdgeLayerBits"/>, or after
    /// <see cref="Checkpoint.TryLoad"/> the checkpoint's); null when the model was wrapped without edge widths.
    /// </summary>
    public int? EdgeBitsInState
    {
        get
        {
            foreach ((string name, Tensor buffer) in named_buffers(recurse: false))
                if (name == EdgeBitsName) return (int)buffer.data<long>()[0];
            return null;
        }
    }

    /// <summary>The weights' grid of a quantized layer (an edge layer's when <see cref="QuantizationOptions.EdgeLayerBits"/> is set).</summary>
    /// <param name="path">One of <see cref="QuantizedLayers"/>.</param>
    /// <returns>The symmetric grid of its weight bits.</returns>
    public IntegerGrid WeightGridOf(string path) => Quantizer(path).WeightGrid;

    /// <summary>The per-output-channel scales the layer's weights are quantized with now (for export).</summary>
    /// <param name="path">One of <see cref="QuantizedLayers"/>.</param>
    /// <param name="weight">The layer's weight.</param>
    /// <returns>One scale per output channel.</returns>
    public float[] WeightScalesOf(string path, Tensor weight) => Quantizer(path).WeightScales(weight);

    /// <summary>
    /// The first and the last of <see cref="QuantizedLayers"/> in the order a forward pass runs them, which take
    /// <see cref="QuantizationOptions.EdgeLayerBits"/>; empty when that option is not set.
    /// </summary>
    public IReadOnlyList<string> EdgeLayers { get; }

    /// <summary>Whether <paramref name="path"/> (a module path in <see cref="Model"/>) is quantized.</summary>
    /// <param name="path">A module path.</param>
    /// <returns>True for a quantized layer.</returns>
    public bool IsQuantized(string path) => QuantizedLayers.Contains(path, StringComparer.Ordinal);

    /// <summary>
    /// Post-training calibration: forgets the activation ranges and sets each to the min and max over
    /// <paramref name="batches"/> (learned steps start from the first batch), running the model in evaluation mode
    /// without gradients (batch-norm statistics stay as they are). The mode is restored afterwards.
    /// </summary>
    /// <param name="batches">Images [B, 1, 28, 28]; a few hundred images are enough.</param>
    public void Calibrate(IEnumerable<Tensor> batches)
    {
        ArgumentNullException.ThrowIfNull(batches);
        bool wasTraining = training;
        foreach (LayerQuantizer q in quantizers.values()) q.Reset();
        eval();
        calibrating = true;
        try
        {
            using var noGrad = no_grad();
            int count = 0;
            foreach (Tensor batch in batches)
            {
                using var scope = NewDisposeScope();
                model.call(batch).Dispose();
                count++;
            }
            if (count == 0) throw new ArgumentException("Calibration needs at least one batch.", nameof(batches));
        }
        finally
        {
            calibrating = false;
            train(wasTraining);
        }
    }

    /// <inheritdoc/>
    public override ModelOutput forward(Tensor input) => model.call(input);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            foreach (Action remove in removeHooks) remove();
            removeHooks.Clear();
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// The first and last of <paramref name="layers"/> that a forward pass calls, found by running one zero input
    /// (of the model's <see cref="DistillModel.InputShape"/>) in evaluation mode without gradients: module
    /// registration order need not be the order of the forward pass (TorchSharp registers fields by name).
    /// </summary>
    private static (string First, string Last) FindEdgeLayers(DistillModel model, Dictionary<string, Module> modules, string[] layers)
    {
        var called = new List<string>();
        var removers = new List<Action>();
        bool wasTraining = model.training;
        try
        {
            foreach (string path in layers)
            {
                if (!modules.TryGetValue(path, out Module? layer) || layer is not Module<Tensor, Tensor> hooked) continue;
                removers.Add(hooked.register_forward_pre_hook((_, x) =>
                {
                    called.Add(path);
                    return x;
                }).remove);
            }
            model.eval();
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            model.call(zeros([1, .. model.InputShape]));
        }
        finally
        {
            foreach (Action remove in removers) remove();
            model.train(wasTraining);
        }
        if (called.Count == 0)
            throw new ArgumentException($"No layer to quantize ran in a forward pass of {model.Architecture}; the first and last layers cannot be told.", nameof(model));
        return (called[0], called[^1]);
    }

    private static bool IsQuantizable(Module module) =>
        module is TorchSharp.Modules.Conv2d or Models.SameConv2d or TorchSharp.Modules.Linear;

    private LayerQuantizer Quantizer(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return quantizers.values().FirstOrDefault(q => string.Equals(q.Path, path, StringComparison.Ordinal))
            ?? throw new ArgumentException($"Layer '{path}' is not quantized; quantized layers: {string.Join(", ", QuantizedLayers)}.", nameof(path));
    }

    private void Hook(Module layer, string path, LayerQuantizer quantizer)
    {
        switch (layer)
        {
            case TorchSharp.Modules.Conv2d conv:
                if (conv.padding_mode != PaddingModes.Zeros)
                    throw new NotSupportedException($"Layer '{path}' pads with {conv.padding_mode}; only zero padding can be quantized.");
                var convPre = conv.register_forward_pre_hook((m, x) => quantizer.QuantizeInput(x, m.training, calibrating));
                var convPost = conv.register_forward_hook((_, x, y) =>
                {
                    y.Dispose();
                    using Tensor w = quantizer.QuantizeWeight(conv.weight);
                    return conv.padding_type is Padding padding
                        ? functional.conv2d_padding(x, w, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
                        : functional.conv2d(x, w, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups);
                });
                removeHooks.Add(convPre.remove);
                removeHooks.Add(convPost.remove);
                break;
            case Models.SameConv2d same:
                var samePre = same.register_forward_pre_hook((m, x) => quantizer.QuantizeInput(x, m.training, calibrating));
                var samePost = same.register_forward_hook((_, x, y) =>
                {
                    y.Dispose();
                    using Tensor w = quantizer.QuantizeWeight(same.weight);
                    return Models.SameConv2d.Convolve(x, w, path, same.Groups);
                });
                removeHooks.Add(samePre.remove);
                removeHooks.Add(samePost.remove);
                break;
            case TorchSharp.Modules.Linear linear:
                var linearPre = linear.register_forward_pre_hook((m, x) => quantizer.QuantizeInput(x, m.training, calibrating));
                var linearPost = linear.register_forward_hook((_, x, y) =>
                {
                    y.Dispose();
                    using Tensor w = quantizer.QuantizeWeight(linear.weight);
                    return functional.linear(x, w, linear.bias);
                });
                removeHooks.Add(linearPre.remove);
                removeHooks.Add(linearPost.remove);
                break;
            default:
                throw new ArgumentException($"Layer '{path}' is a {layer.GetType().Name}; only Conv2d and Linear layers can be quantized.", "options");
        }
    }
}
