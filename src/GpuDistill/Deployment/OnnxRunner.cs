using Microsoft.ML.OnnxRuntime;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Deployment;

/// <summary>
/// Runs an exported model (one float32 input, one float32 output, as <see cref="Export"/> writes them) in ONNX
/// Runtime on the CPU: to check an export against TorchSharp, or to time it (<see cref="OnnxLatency"/>).
/// </summary>
public sealed class OnnxRunner : IDisposable
{
    private readonly SessionOptions options;
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly string inputName;
    private readonly string outputName;

    /// <summary>Opens <paramref name="path"/> in an ONNX Runtime session.</summary>
    /// <param name="path">An .onnx file.</param>
    /// <param name="intraOpThreads">ONNX Runtime's intra-op threads; 0 lets it choose (one per physical core).</param>
    /// <param name="optimize">Whether ONNX Runtime may rewrite the graph (fusions, QDQ to integer kernels); off runs every node as written.</param>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    public OnnxRunner(string path, int intraOpThreads = 0, bool optimize = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentOutOfRangeException.ThrowIfNegative(intraOpThreads);
        if (!File.Exists(path)) throw new FileNotFoundException($"No ONNX model at '{path}'.", path);
        options = new SessionOptions
        {
            IntraOpNumThreads = intraOpThreads,
            GraphOptimizationLevel = optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
        };
        try
        {
            session = new InferenceSession(path, options);
        }
        catch
        {
            options.Dispose();
            throw;
        }
        inputName = session.InputNames.Single();
        outputName = session.OutputNames.Single();
    }

    /// <summary>Runs the model on a batch.</summary>
    /// <param name="input">float32 CPU tensor of the model's input shape, e.g. images [B, 1, 28, 28].</param>
    /// <returns>The output as a new float32 tensor (e.g. logits [B, 10]).</returns>
    public Tensor Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dtype != ScalarType.Float32 || input.device_type != DeviceType.CPU)
            throw new ArgumentException($"input must be a float32 CPU tensor; got {input.dtype} on {input.device}.", nameof(input));
        using Tensor contiguous = input.detach().contiguous();
        float[] data = contiguous.data<float>().ToArray();
        return Run(data, contiguous.shape);
    }

    /// <summary>Runs the model on raw input data of the given shape.</summary>
    /// <param name="data">The input, row-major.</param>
    /// <param name="shape">Its shape.</param>
    /// <returns>The output as a new float32 tensor.</returns>
    public Tensor Run(float[] data, long[] shape)
    {
        using OrtValue value = OrtValue.CreateTensorValueFromMemory(data, shape);
        using IDisposableReadOnlyCollection<OrtValue> results = session.Run(runOptions, [inputName], [value], [outputName]);
        OrtValue output = results[0];
        long[] outputShape = output.GetTensorTypeAndShape().Shape;
        return tensor(output.GetTensorDataAsSpan<float>().ToArray(), outputShape);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        session.Dispose();
        options.Dispose();
        runOptions.Dispose();
    }
}
