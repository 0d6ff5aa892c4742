using System.Globalization;
using GpuDistill.Models;
using GpuDistill.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Module = TorchSharp.torch.nn.Module;
using BatchNorm2dModule = TorchSharp.Modules.BatchNorm2d;
using Conv2dModule = TorchSharp.Modules.Conv2d;
using LinearModule = TorchSharp.Modules.Linear;

namespace GpuDistill.Deployment;

/// <summary>
/// Writes the evaluation-mode computation of a module tree as ONNX nodes, layer by layer: each supported TorchSharp
/// layer becomes its ONNX operator(s) with the layer's weights as initializers. With a <see cref="QuantizedModel"/>,
/// each quantized Conv2d or Linear gets the QDQ form: its input through QuantizeLinear / DequantizeLinear with the
/// layer's activation scale and zero point (per tensor), its weight stored as int8 and dequantized per output channel.
/// </summary>
internal sealed class OnnxExporter(OnnxGraph graph, QuantizedModel? quantized)
{
    /// <summary>The layer types <see cref="Layer"/> writes, for error messages.</summary>
    public const string SupportedLayers =
        "Sequential, Conv2d, SameConv2d, Linear, BatchNormalization2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Dropout, Identity";

    /// <summary>Writes one layer (recursively for a Sequential) and returns the name of its output.</summary>
    /// <param name="module">The layer.</param>
    /// <param name="path">Its module path (for names, quantization and errors).</param>
    /// <param name="input">The name of its input.</param>
    /// <returns>The name of its output.</returns>
    /// <exception cref="NotSupportedException">A layer (or setting) with no export; the message names its path and type.</exception>
    public string Layer(Module module, string path, string input)
    {
        switch (module)
        {
            case Sequential sequential:
                foreach ((string name, Module child) in sequential.named_children())
                    input = Layer(child, Join(path, name), input);
                return input;
            case Conv2dModule conv:
                return Convolution(conv, path, input);
            case Models.SameConv2d same:
                return Convolution(path, input, same.weight, null, same.KernelSize, [.. same.Padding, .. same.Padding], [1, 1], [1, 1], same.Groups);
            case LinearModule linear:
                return Gemm(linear, path, input);
            case BatchNormalization2d bn:
                return BatchNormalization(path, input, Named(bn, "weight"), Named(bn, "bias"), Named(bn, "running_mean"),
                    Named(bn, "running_var"), bn.Epsilon);
            case BatchNorm2dModule bn:
                if (bn.running_mean is null || bn.running_var is null)
                    throw Unsupported(module, path, "batch norm without running statistics normalises with each batch's own");
                using (var ones = torch.ones(bn.num_features))
                using (var zeros = torch.zeros(bn.num_features))
                {
                    return BatchNormalization(path, input, bn.weight ?? ones, bn.bias ?? zeros, bn.running_mean, bn.running_var, bn.eps);
                }
            case ReLU:
                return graph.Node("Relu", path, [input]);
            case MaxPool2d pool:
                return Pooling("MaxPool", pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode, path, input,
                    OnnxGraph.Ints("dilations", pool.dilation ?? [1, 1]));
            case AvgPool2d pool:
                if (pool.divisor_override is not null) throw Unsupported(module, path, "divisor_override has no ONNX counterpart");
                return Pooling("AveragePool", pool.kernel_size, pool.stride, pool.padding, pool.ceil_mode, path, input,
                    OnnxGraph.Int("count_include_pad", pool.count_include_pad ? 1 : 0));
            case AdaptiveAvgPool2d pool when pool.output_size.All(s => s == 1):
                return graph.Node("GlobalAveragePool", path, [input]);
            case Flatten flatten when flatten.start_dim >= 0 && flatten.end_dim == -1:
                return graph.Node("Flatten", path, [input], OnnxGraph.Int("axis", flatten.start_dim));
            case Dropout or Identity:
                // Evaluation mode: both pass their input through.
                return input;
            default:
                throw Unsupported(module, path, null);
        }
    }

    /// <summary>Spatial mean of [B, C, H, W] to [B, C] (StagedCnn's pooling, written in its forward).</summary>
    public string SpatialMean(string path, string input) =>
        graph.Node("ReduceMean", path, [input], OnnxGraph.Ints("axes", 2, 3), OnnxGraph.Int("keepdims", 0));

    /// <summary>[B, ...] to [B, prod(...)] (what the MLP does to its images).</summary>
    public string FlattenImages(string path, string input) => graph.Node("Flatten", path, [input], OnnxGraph.Int("axis", 1));

    /// <summary>ReLU written in a model's forward rather than as a module.</summary>
    public string Relu(string path, string input) => graph.Node("Relu", path, [input]);

    /// <summary>The exception for a layer with no export: names the module path and type.</summary>
    public static NotSupportedException Unsupported(Module module, string path, string? why) => new(
        $"Module '{(path.Length == 0 ? "(root)" : path)}' of type {module.GetType().Name} cannot be exported to ONNX" +
        (why is null ? $"; supported layers: {SupportedLayers}." : $": {why}."));

    private string Convolution(Conv2dModule conv, string path, string input)
    {
        if (conv.padding_mode != PaddingModes.Zeros) throw Unsupported(conv, path, $"padding mode {conv.padding_mode}");
        long[] kernel = conv.kernel_size;
        long[] pads;
        if (conv.padding_type is Padding.Same)
        {
            // PyTorch's 'same': total = dilation (k - 1), the smaller half before.
            long top = conv.dilation[0] * (kernel[0] - 1), left = conv.dilation[1] * (kernel[1] - 1);
            pads = [top / 2, left / 2, top - top / 2, left - left / 2];
        }
        else
        {
            long[] p = conv.padding ?? [0, 0];
            pads = [p[0], p[1], p[0], p[1]];
        }
        return Convolution(path, input, conv.weight, conv.bias, kernel, pads, conv.stride, conv.dilation, conv.groups);
    }

    private string Convolution(string path, string input, Tensor weight, Tensor? bias, long[] kernel, long[] pads,
        long[] strides, long[] dilations, long groups)
    {
        var inputs = new List<string> { QuantizedInput(path, input), Weight(path, weight) };
        if (bias is not null) inputs.Add(graph.Initializer(path + ".bias", bias));
        return graph.Node("Conv", path, inputs,
            OnnxGraph.Ints("kernel_shape", kernel), OnnxGraph.Ints("pads", pads), OnnxGraph.Ints("strides", strides),
            OnnxGraph.Ints("dilations", dilations), OnnxGraph.Int("group", groups));
    }

    private string Gemm(LinearModule linear, string path, string input)
    {
        var inputs = new List<string> { QuantizedInput(path, input), Weight(path, linear.weight) };
        if (linear.bias is not null) inputs.Add(graph.Initializer(path + ".bias", linear.bias));
        return graph.Node("Gemm", path, inputs, OnnxGraph.Int("transB", 1));
    }

    private string BatchNormalization(string path, string input, Tensor weight, Tensor bias, Tensor mean, Tensor variance, double eps) =>
        graph.Node("BatchNormalization", path,
            [input, graph.Initializer(path + ".weight", weight), graph.Initializer(path + ".bias", bias),
             graph.Initializer(path + ".running_mean", mean), graph.Initializer(path + ".running_var", variance)],
            OnnxGraph.Float("epsilon", (float)eps));

    private string Pooling(string op, long[] kernel, long[]? stride, long[]? padding, bool ceilMode, string path, string input,
        Onnx.AttributeProto extra)
    {
        long[] p = padding ?? [0, 0];
        return graph.Node(op, path, [input],
            OnnxGraph.Ints("kernel_shape", kernel), OnnxGraph.Ints("strides", stride ?? kernel),
            OnnxGraph.Ints("pads", p[0], p[1], p[0], p[1]), OnnxGraph.Int("ceil_mode", ceilMode ? 1 : 0), extra);
    }

    /// <summary>The layer's input, through a Q/DQ pair when the layer's activations are quantized.</summary>
    private string QuantizedInput(string path, string input)
    {
        if (quantized is null || !quantized.IsQuantized(path) || quantized.ActivationOf(path) is not { } a) return input;
        bool signed8 = a.Grid.IsSigned;
        int containerMin = signed8 ? sbyte.MinValue : byte.MinValue, containerMax = signed8 ? sbyte.MaxValue : byte.MaxValue;
        if (a.Grid.Minimum < containerMin || a.Grid.Maximum > containerMax)
            throw new NotSupportedException($"Layer '{path}' quantizes its input to {a.Grid}; the QDQ export holds 2 to 8 bits.");
        string scale = graph.Initializer(path + ".input_scale", [a.Scale]);
        string zeroPoint = Integers(path + ".input_zero_point", signed8, a.ZeroPoint);
        string q = graph.Node("QuantizeLinear", path + ".input", [input, scale, zeroPoint]);
        if (a.Grid.Minimum > containerMin || a.Grid.Maximum < containerMax)
        {
            // Fewer than 8 bits in an 8-bit type: clamp the integers to the grid, which QuantizeLinear's saturation
            // to the type does not (exact, in the integer domain).
            q = graph.Node("Clip", path + ".input", [q, Integers(path + ".input_min", signed8, a.Grid.Minimum),
                Integers(path + ".input_max", signed8, a.Grid.Maximum)]);
        }
        return graph.Node("DequantizeLinear", path + ".input", [q, scale, zeroPoint]);
    }

    /// <summary>The layer's weight: float, or int8 with per-output-channel scales and a DequantizeLinear (axis 0).</summary>
    private string Weight(string path, Tensor weight)
    {
        if (quantized is null || !quantized.IsQuantized(path)) return graph.Initializer(path + ".weight", weight);
        IntegerGrid grid = quantized.WeightGridOf(path);
        if (grid.Bits > 8)
            throw new NotSupportedException($"Layer '{path}' has {grid.Bits}-bit weights; the QDQ export holds 2 to 8 bits.");
        float[] scales = quantized.WeightScalesOf(path, weight);
        using Tensor values = weight.detach().contiguous();
        float[] w = values.data<float>().ToArray();
        int rowLength = w.Length / scales.Length;
        var integers = new sbyte[w.Length];
        for (int i = 0; i < w.Length; i++)
            integers[i] = (sbyte)QuantizationScales.ToInteger(w[i], scales[i / rowLength], 0, grid);
        string q = graph.Initializer(path + ".weight_quantized", integers, weight.shape);
        string scale = graph.Initializer(path + ".weight_scale", scales, scales.Length);
        string zeroPoint = graph.Initializer(path + ".weight_zero_point", new sbyte[scales.Length], scales.Length);
        return graph.Node("DequantizeLinear", path + ".weight", [q, scale, zeroPoint], OnnxGraph.Int("axis", 0));
    }

    /// <summary>A scalar int8 or uint8 initializer.</summary>
    private string Integers(string name, bool signed8, int value) => signed8
        ? graph.Initializer(name, [checked((sbyte)value)])
        : graph.Initializer(name, [checked((byte)value)]);

    private static Tensor Named(Module module, string name) =>
        module.named_parameters(recurse: false).Where(p => p.name == name).Select(p => (Tensor)p.parameter)
            .Concat(module.named_buffers(recurse: false).Where(b => b.name == name).Select(b => b.buffer))
            .First();

    private static string Join(string path, string name) => path.Length == 0 ? name : path + "." + name;
}
