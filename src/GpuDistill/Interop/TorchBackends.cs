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
/// oneDNN's forward convolutions are right here (the same logits as libtorch's own to 6e-7 over 60 passes of each
/// model, one and two threads) and 3 to 14 times faster, so a forward that records no gradient, such as a frozen
/// teacher's under <c>no_grad</c> or an evaluation, turns oneDNN back on for its duration
/// (<see cref="GradientFreeForward"/>, used by every <see cref="Models.DistillModel"/>). The switch is process-wide,
/// so a convolution that records its gradient on another thread during such a forward would get oneDNN's backward:
/// the library runs its models on one thread; research code that trains on several threads at once should keep its
/// gradient-free forwards of <see cref="Models.DistillModel"/>s on the training thread.
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

    // True once UseCorrectConvolutions has turned oneDNN off: only then does a gradient-free forward turn it back on.
    private static volatile bool turnedOff;

    // Gradient-free forwards open on this thread (wrapped models nest them): oneDNN goes back off when the last closes.
    [ThreadStatic]
    private static int gradientFreeDepth;

    /// <summary>
    /// Turns oneDNN on until the returned scope is disposed, when libtorch records no gradient (<c>no_grad</c>) and
    /// <see cref="UseCorrectConvolutions"/> has turned it off; otherwise does nothing. See the remarks on the class.
    /// </summary>
    /// <returns>A scope to dispose when the forward is done.</returns>
    public static GradientFreeScope GradientFreeForward()
    {
        if (!turnedOff || TorchSharp.torch.is_grad_enabled()) return default;
        if (gradientFreeDepth++ == 0) SetUserEnabledMkldnn(GlobalContext(), true);
        return new GradientFreeScope(true);
    }

    /// <summary>The scope of <see cref="GradientFreeForward"/>: disposing it turns oneDNN back off.</summary>
    public readonly struct GradientFreeScope : IDisposable
    {
        private readonly bool opened;

        internal GradientFreeScope(bool opened) => this.opened = opened;

        /// <summary>Closes the scope.</summary>
        public void Dispose()
        {
            if (opened && --gradientFreeDepth == 0) SetUserEnabledMkldnn(GlobalContext(), false);
        }
    }

    /// <summary>
    /// Turns oneDNN off once per process unless <see cref="KeepOneDnnVariable"/> is 1; later calls do nothing. Called by
    /// <see cref="Models.DistillModel"/>'s and <see cref="Models.ImageGenerator"/>'s constructors.
    /// </summary>
    public static void UseCorrectConvolutions()
    {
        if (Interlocked.Exchange(ref configured, 1) == 1) return;
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
                $"This libtorch does not export at::Context's oneDNN switch ({e.Message}); the oneDNN switch needs libtorch 2.x's symbols.", e);
        }
    }

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);
}
