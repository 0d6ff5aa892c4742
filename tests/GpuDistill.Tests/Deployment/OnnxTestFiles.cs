using GpuDistill.Deployment;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Deployment;

/// <summary>Temporary .onnx files and the comparison of ONNX Runtime's output with TorchSharp's.</summary>
public static class OnnxTestFiles
{
    public static string NewPath() => Path.Combine(Path.GetTempPath(), $"gpudistill-onnx-{Guid.NewGuid():N}.onnx");

    /// <summary>Runs the file in ONNX Runtime (graph optimisations on or off) and returns the output.</summary>
    public static Tensor RunOnnx(string path, Tensor input, bool optimize = true)
    {
        using var runner = new OnnxRunner(path, intraOpThreads: 1, optimize);
        return runner.Run(input);
    }

    /// <summary>max |a - e| / max(max |e|, 1).</summary>
    public static double RelativeMaxError(Tensor actual, Tensor expected)
    {
        Assert.That(actual.shape, Is.EqualTo(expected.shape), "shapes");
        double difference = actual.sub(expected).abs().max().item<float>();
        double scale = Math.Max(expected.abs().max().item<float>(), 1);
        return difference / scale;
    }
}
