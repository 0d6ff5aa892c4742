using System.Runtime.InteropServices;

/// <summary>
/// Limits oneDNN (libtorch's CPU convolutions) to AVX2 for the whole test run, before any test loads it: on this
/// project's machine (AMD EPYC with AVX-512, libtorch 2.10.0 of TorchSharp-cpu 0.107.0) its AVX-512 convolution
/// backward corrupts gradients, input and weight gradients alike whenever a gradient must pass back through a
/// convolution: a two-convolution net's gradients came out NaN, infinite or ~20-50% off in about half of the
/// backward passes of a fresh process, while with DNNL_MAX_CPU_ISA=AVX2 every pass matched and agreed with finite
/// differences (see ConvolutionGradientTests). A variable already set by the caller is left alone.
/// </summary>
/// <remarks>
/// Set in the C library's environment, the one oneDNN reads (on Unix, Environment.SetEnvironmentVariable changes only
/// .NET's copy); oneDNN reads it once, at its first convolution, so this must run before any test builds a model.
/// </remarks>
[SetUpFixture]
#pragma warning disable CA1050 // A SetUpFixture outside every namespace applies to the whole assembly.
public sealed partial class OneDnnIsaLimit
#pragma warning restore CA1050
{
    /// <summary>The variable oneDNN reads for the widest instruction set it may use.</summary>
    public const string Variable = "DNNL_MAX_CPU_ISA";

    [OneTimeSetUp]
    public void LimitToAvx2()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) is not null) return;
        if (SetEnv(Variable, "AVX2", 1) != 0)
            throw new InvalidOperationException($"setenv({Variable}) failed with errno {Marshal.GetLastPInvokeError()}.");
        Environment.SetEnvironmentVariable(Variable, "AVX2");
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
