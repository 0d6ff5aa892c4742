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
    /// <summary>ONNX Runtime's session option that avoids the saturating int8 GEMM on x86-64 without VNNI.</summary>
    public const string X64QuantizedPrecision = "session.x64quantprecision";

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
            // On x86-64 CPUs without VNNI, ONNX Runtime's fused int8 GEMM (u8 x s8) adds pairs of products in 16 bits,
            // which saturate: measured on an AVX2 EPYC, the 8-bit MLP's QDQ file gave logits off by 11% of their
            // scale and 94% top-1 agreement. This option makes it use its exact u8 x u8 kernels there; it changes
            // nothing on CPUs with VNNI.
            options.AddSessionConfigEntry(X64QuantizedPrecision, "1");
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
