using GpuDistill.Interop;

/// <summary>
/// Turns libtorch's oneDNN backend off for the whole test run, before any test builds a model: its convolution
/// backward corrupts gradients on this project's machine (see <see cref="TorchBackends"/> and ConvolutionGradientTests,
/// which fail without this).
/// </summary>
[SetUpFixture]
#pragma warning disable CA1050 // A SetUpFixture outside every namespace applies to the whole assembly.
public sealed class OneDnnOff
#pragma warning restore CA1050
{
    [OneTimeSetUp]
    public void DisableMkldnn()
    {
        // GPUDISTILL_KEEP_ONEDNN=1 keeps it on, to see the corruption (or measure the speed) for oneself.
        TorchBackends.UseCorrectConvolutions();
    }
}
