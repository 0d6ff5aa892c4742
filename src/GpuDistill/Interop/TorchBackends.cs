using System.Runtime.InteropServices;

namespace GpuDistill.Interop;

/// <summary>
/// Switches libtorch's oneDNN (MKL-DNN) CPU backend, which TorchSharp 0.107 does not expose
/// (<c>torch.backends.mkldnn.enabled</c> in PyTorch), through libtorch's own <c>at::Context</c>.
/// </summary>
/// <remarks>
/// <para>
/// Why: on this project's machine (AMD EPYC with AVX-512, libtorch 2.10.0 of TorchSharp-cpu 0.107.0) oneDNN's
/// convolution backward returns corrupt gradients whenever a gradient passes back through a convolution: NaN,
/// infinite or tens of percent off, differing from one run to the next (a 2-convolution net's input gradient in about
/// half of the passes of a fresh process; a 64 -> 1 convolution's input gradient NaN over a 27x27 block of one channel
/// in most runs, with oneDNN limited to AVX2 too). With oneDNN off, libtorch's own convolutions gave the same,
/// finite-difference-checked gradients in every run. Ordinary training needs these gradients too (every convolution
/// but the first passes one back), and the generator and data-free methods need the input gradient of a frozen
/// teacher.
/// </para>
/// <para>
/// The library calls <see cref="UseCorrectConvolutions"/> when it builds a model or a trainer, so its own training
/// never meets the bug; research code with models of its own calls it (or <see cref="DisableMkldnn"/>) once, before the
/// first convolution. Setting the environment variable <c>GPUDISTILL_KEEP_ONEDNN=1</c> keeps oneDNN on (to see the
/// corruption, or on a machine where its convolutions are known good). The entry points are C++ symbols of
/// libtorch_cpu (<c>at::globalContext()</c>, <c>at::Context::setUserEnabledMkldnn(bool)</c>), bound by their mangled
/// names: a libtorch that renames them makes the call fail with a message, not silently.
/// </para>
/// <para>
/// oneDNN's forward convolutions are right here only for some shapes: with input channels up to 16 or a multiple of 16
/// they gave libtorch's own results (to 5e-7; swept over batches 1 to 64, kernels 1 to 5, 7 and 14 pixels); with any other
/// count above 16 (17-31, 33-47, ...) they were 30-60 % off, every time. Where they are right they are 3 to 14 times
/// faster, so the library's CNNs convolve through <see cref="Models.SameConv2d"/>, which computes its gradients with
/// forward convolutions too and gives oneDNN (<see cref="ForwardConvolutions"/>) only the convolutions whose input
/// channels pass <see cref="OneDnnConvolutionIsRight"/>. The switch is process-wide: the library trains on one thread.
/// </para>
/// </remarks>
public static partial class TorchBackends
{
    private const string Library = "libtorch_cpu";

    /// <summary>Whether libtorch may use oneDNN for CPU operators (convolutions among them).</summary>
    /// <exception cref="InvalidOperationException">libtorch_cpu lacks the entry point.</exception>
    public static bool MkldnnEnabled => Call(() => UserEnabledMkldnn(GlobalContext()));

    /// <summary>Stops libtorch from using oneDNN for CPU operators, for this process.</summary>
    /// <exception cref="InvalidOperationException">libtorch_cpu lacks the entry point.</exception>
    public static void DisableMkldnn() => Call(() =>
    {
        SetUserEnabledMkldnn(GlobalContext(), false);
        return true;
    });

    /// <summary>The environment variable that keeps oneDNN on when set to 1.</summary>
    public const string KeepOneDnnVariable = "GPUDISTILL_KEEP_ONEDNN";

    private static int configured;

    // True once UseCorrectConvolutions has turned oneDNN off: only then do the scopes below turn it back on.
    private static volatile bool turnedOff;

    /// <summary>
    /// Whether oneDNN's forward convolution over <paramref name="inputChannels"/> input channels is right on this
    /// project's machine: up to 16 channels, or a multiple of 16 (see the remarks on the class).
    /// </summary>
    /// <param name="inputChannels">The convolution's input channels.</param>
    /// <returns>True where oneDNN may run it.</returns>
    internal static bool OneDnnConvolutionIsRight(long inputChannels) => inputChannels <= 16 || inputChannels % 16 == 0;

    /// <summary>
    /// Turns oneDNN on until the returned scope is disposed, where <see cref="UseCorrectConvolutions"/> turned it off and
    /// <paramref name="inputChannels"/> passes <see cref="OneDnnConvolutionIsRight"/>; otherwise does nothing. Only for
    /// forward convolutions whose gradient libtorch does not record (under <c>no_grad</c>, or inside the forward or
    /// backward of <see cref="Models.SameConv2d"/>'s autograd function).
    /// </summary>
    /// <param name="inputChannels">The input channels of the convolution to run.</param>
    /// <returns>A scope to dispose when the convolution is done.</returns>
    internal static OneDnnScope ForwardConvolutions(long inputChannels)
    {
        // Scopes never nest: each spans one convolution call.
        if (!turnedOff || !OneDnnConvolutionIsRight(inputChannels)) return default;
        SetUserEnabledMkldnn(GlobalContext(), true);
        return new OneDnnScope(true);
    }

    /// <summary>A span of code with oneDNN on (<see cref="ForwardConvolutions"/>): disposing it turns oneDNN back off.</summary>
    internal readonly struct OneDnnScope : IDisposable
    {
        private readonly bool opened;

        internal OneDnnScope(bool opened) => this.opened = opened;

        /// <summary>Closes the scope.</summary>
        public void Dispose()
        {
            if (opened) SetUserEnabledMkldnn(GlobalContext(), false);
        }
    }

    /// <summary>
    /// Turns oneDNN off once per process unless <see cref="KeepOneDnnVariable"/> is 1; later calls do nothing. Called by
    /// <see cref="Models.DistillModel"/>'s and <see cref="Models.ImageGenerator"/>'s constructors.
    /// </summary>
    public static void UseCorrectConvolutions()
    {
        if (Interlocked.Exchange(ref configured, 1) == 1) return;
        // libtorch offers some convolutions (the radon student's among them) to NNPACK, which does not start on CPUs
        // without its instructions and then warns on every call (15,000 log lines in five minutes of training);
        // turned off, those convolutions take the path they fall back to anyway, without the warning.
        Call(() =>
        {
            SetUserEnabledNNPACK(GlobalContext(), false);
            return true;
        });
        if (Environment.GetEnvironmentVariable(KeepOneDnnVariable) == "1") return;
        DisableMkldnn();
        turnedOff = true;
    }

    private static T Call<T>(Func<T> call)
    {
        // Any TorchSharp call loads libtorch first, so the symbols below resolve against the copy TorchSharp uses.
        TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);
        try
        {
            return call();
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            throw new InvalidOperationException(
                $"This libtorch does not export at::Context's backend switches ({e.Message}); the oneDNN and NNPACK switches need libtorch 2.x's symbols.", e);
        }
    }

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNNPACK(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledNNPACK(IntPtr context);

    /// <summary>Whether libtorch may offer convolutions to NNPACK (off once a model was built).</summary>
    /// <exception cref="InvalidOperationException">libtorch_cpu lacks the entry point.</exception>
    public static bool NnpackEnabled => Call(() => UserEnabledNNPACK(GlobalContext()));

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);
}
