using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;
using DataType = Onnx.TensorProto.Types.DataType;
using AttributeType = Onnx.AttributeProto.Types.AttributeType;

namespace GpuDistill.Deployment;

/// <summary>
/// Builds an ONNX graph with the onnx.proto types of OnnxSharp (serialised by Google.Protobuf): initializers from
/// tensors and arrays, nodes with unique output names, and the model around the graph.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly GraphProto graph;
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private int counter;

    public OnnxGraph(string name) => graph = new GraphProto { Name = name };

    /// <summary>A float32 initializer holding a copy of <paramref name="value"/> (contiguous, CPU).</summary>
    public string Initializer(string name, Tensor value)
    {
        using Tensor data = value.detach().contiguous().to_type(ScalarType.Float32);
        return Add(name, DataType.Float, data.shape, ByteString.CopyFrom(data.bytes));
    }

    /// <summary>A float32 initializer.</summary>
    public string Initializer(string name, float[] values, params long[] dims) =>
        Add(name, DataType.Float, dims, ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())));

    /// <summary>An int8 initializer.</summary>
    public string Initializer(string name, sbyte[] values, params long[] dims) =>
        Add(name, DataType.Int8, dims, ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())));

    /// <summary>A uint8 initializer.</summary>
    public string Initializer(string name, byte[] values, params long[] dims) =>
        Add(name, DataType.Uint8, dims, ByteString.CopyFrom(values));

    /// <summary>Adds a node of the default domain and returns its (single) output's name.</summary>
    public string Node(string opType, string nameHint, IReadOnlyList<string> inputs, params AttributeProto[] attributes)
    {
        string output = Unique(nameHint + "/" + opType);
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return output;
    }

    /// <summary>Declares a float32 graph input of the given shape, whose first dimension is the batch (symbolic).</summary>
    public void Input(string name, IReadOnlyList<long> shapeAfterBatch) => graph.Input.Add(FloatValue(name, shapeAfterBatch));

    /// <summary>
    /// Declares <paramref name="name"/> the graph output, produced from <paramref name="produced"/> by an Identity node
    /// (so any value, even the graph input, can be the output; ONNX Runtime removes the node).
    /// </summary>
    public void Output(string produced, string name, IReadOnlyList<long> shapeAfterBatch)
    {
        var node = new NodeProto { OpType = "Identity", Name = Unique(name + "/Identity") };
        node.Input.Add(produced);
        node.Output.Add(name);
        graph.Node.Add(node);
        graph.Output.Add(FloatValue(name, shapeAfterBatch));
    }

    /// <summary>The model: IR version 7 (opset 13's), default-domain opset <paramref name="opset"/>.</summary>
    public ModelProto Model(int opset, string docString)
    {
        var model = new ModelProto
        {
            IrVersion = 7,
            ProducerName = "GpuDistill",
            ProducerVersion = typeof(OnnxGraph).Assembly.GetName().Version?.ToString() ?? "",
            DocString = docString,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private string Add(string name, DataType type, IEnumerable<long> dims, ByteString data)
    {
        string unique = Unique(name);
        var proto = new TensorProto { Name = unique, DataType = (int)type, RawData = data };
        proto.Dims.AddRange(dims);
        graph.Initializer.Add(proto);
        return unique;
    }

    private string Unique(string name)
    {
        string candidate = name;
        while (!names.Add(candidate)) candidate = $"{name}_{++counter}";
        return candidate;
    }

    private static ValueInfoProto FloatValue(string name, IReadOnlyList<long> shapeAfterBatch)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        foreach (long d in shapeAfterBatch) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } },
        };
    }
}
