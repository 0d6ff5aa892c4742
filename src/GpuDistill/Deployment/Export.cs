using Google.Protobuf;
using GpuDistill.Models;
using GpuDistill.Quantization;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Deployment;

/// <summary>
/// ONNX export of the library's models (TorchSharp has none), float or quantized, opset 13: what a student needs to
/// leave .NET and TorchSharp for ONNX Runtime or any other ONNX runtime.
/// </summary>
/// <remarks>
/// <para>
/// The graph is the evaluation-mode model: batch norm with its running statistics, dropout removed. Input
/// <see cref="InputName"/> is float32 [batch, 1, 28, 28] with a symbolic batch; output <see cref="OutputName"/> is
/// the logits [batch, 10]. The protobuf types come from OnnxSharp (generated from onnx.proto) and are written by
/// Google.Protobuf.
/// </para>
/// <para>
/// A <see cref="QuantizedModel"/> is written in QDQ form: before each quantized Conv or Gemm, its input goes through
/// QuantizeLinear / DequantizeLinear (per tensor, uint8 for running-range scales or an unsigned learned step, int8
/// for a signed learned step; below 8 bits a Clip to the grid comes first), and its weight is an int8 initializer
/// on the restricted grid, dequantized per output channel (axis 0) with zero point 0. That is each fake-quant node
/// written as one Q/DQ pair (loss-spec-2 8.1), so ONNX Runtime computes what the fake-quantized model computes.
/// Up to 8 bits; the activation ranges must have been set by training or <see cref="QuantizedModel.Calibrate"/>.
/// </para>
/// <para>
/// ONNX Runtime with its graph optimisations off runs every Q/DQ node as written and matches the fake-quantized
/// model up to float32 summation order (which can flip a rounding tie now and then). With them on (its default), it
/// fuses DQ -> Gemm -> Q chains into integer QGemm kernels and quantizes the float bias to int32 at
/// s_input * s_weight on the way, which the fake-quantized model does not: measured on the MLP, 3e-3 of the
/// logits' scale at 8 bits, 3e-2 at 4 and 0.1-0.3 at 2 (the CNNs' Conv -> BatchNorm chains are not fused).
/// </para>
/// </remarks>
public static class Export
{
    /// <summary>The ONNX opset the exports use (per-axis DequantizeLinear needs 13).</summary>
    public const int Opset = 13;

    /// <summary>The graph input's name.</summary>
    public const string InputName = "images";

    /// <summary>The graph output's name.</summary>
    public const string OutputName = "logits";

    /// <summary>Writes <paramref name="model"/> as an ONNX file (QDQ form for a <see cref="QuantizedModel"/>).</summary>
    /// <param name="model">A <see cref="StagedCnn"/> (small-cnn, mid-cnn, teacher-cnn), an <see cref="Mlp"/>, or a <see cref="QuantizedModel"/> of one.</param>
    /// <param name="path">The .onnx file to write (replaced; its directory is created).</param>
    /// <exception cref="NotSupportedException">A model or layer the exporter does not know; the message names its module path and type.</exception>
    /// <exception cref="InvalidOperationException">A quantized model whose activation ranges were never set.</exception>
    public static void ToOnnx(DistillModel model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        QuantizedModel? quantized = model as QuantizedModel;
        DistillModel plain = quantized?.Model ?? model;
        var graph = new OnnxGraph(plain.Architecture);
        var exporter = new OnnxExporter(graph, quantized);
        graph.Input(InputName, [DistillModel.ImageChannels, DistillModel.ImageSize, DistillModel.ImageSize]);
        Dictionary<string, Module> children = plain.named_children().ToDictionary(c => c.name, c => c.module, StringComparer.Ordinal);

        string x = InputName;
        switch (plain)
        {
            case StagedCnn:
                // StagedCnn.forward: three stages, the spatial mean, dropout (none in evaluation), the head.
                foreach (string stage in new[] { "stage1", "stage2", "stage3" })
                    x = exporter.Layer(Child(children, stage, plain), stage, x);
                x = exporter.SpatialMean("pool", x);
                x = exporter.Layer(Child(children, "head", plain), "head", x);
                break;
            case Mlp:
                // Mlp.forward: flatten, then linear layers with a ReLU after all but the head.
                x = exporter.FlattenImages("flatten", x);
                x = exporter.Relu("fc1", exporter.Layer(Child(children, "fc1", plain), "fc1", x));
                x = exporter.Relu("fc2", exporter.Layer(Child(children, "fc2", plain), "fc2", x));
                x = exporter.Layer(Child(children, "head", plain), "head", x);
                break;
            default:
                throw OnnxExporter.Unsupported(plain, "", "only the library's StagedCnn and Mlp models (and QuantizedModel wrappers of them) are known");
        }
        graph.Output(x, OutputName, [DistillModel.ClassCount]);
        Write(graph.Model(Opset, $"{model}; {(quantized is null ? "float" : "QDQ: " + quantized.Options)}"), path);
    }

    /// <summary>
    /// Writes a plain layer stack (a Sequential of supported layers, or one layer) as an ONNX file, input
    /// [batch, <paramref name="inputShape"/>...] named <see cref="InputName"/>, output <see cref="OutputName"/>.
    /// </summary>
    /// <param name="module">The layers.</param>
    /// <param name="inputShape">The input's shape after the batch dimension, e.g. [3, 28, 28].</param>
    /// <param name="outputShape">The output's shape after the batch dimension (declared in the file).</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <exception cref="NotSupportedException">A layer the exporter does not know; the message names its path and type.</exception>
    public static void ToOnnx(Module<Tensor, Tensor> module, IReadOnlyList<long> inputShape, IReadOnlyList<long> outputShape, string path)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(inputShape);
        ArgumentNullException.ThrowIfNull(outputShape);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var graph = new OnnxGraph(module.GetName());
        graph.Input(InputName, inputShape);
        string x = new OnnxExporter(graph, null).Layer(module, "", InputName);
        graph.Output(x, OutputName, outputShape);
        Write(graph.Model(Opset, module.GetName()), path);
    }

    private static Module Child(Dictionary<string, Module> children, string name, Module model) =>
        children.TryGetValue(name, out Module? child)
            ? child
            : throw OnnxExporter.Unsupported(model, "", $"it has no submodule '{name}' where the exporter expects one");

    private static void Write(Onnx.ModelProto model, string path)
    {
        string full = Path.GetFullPath(path);
        string? directory = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        string temp = full + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            model.WriteTo(stream);
        }
        File.Move(temp, full, overwrite: true);
    }
}
