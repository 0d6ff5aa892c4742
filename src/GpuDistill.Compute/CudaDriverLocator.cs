using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace GpuDistill.Compute;

/// <summary>
/// Lets ILGPU find the CUDA driver on machines that only have <c>libcuda.so.1</c>. ILGPU imports the driver as
/// "cuda", which .NET probes as <c>libcuda.so</c>; that unversioned link comes with the CUDA toolkit's development
/// files, not with the driver, so a driver-only machine (the usual GPU server or container) would show no CUDA device.
/// </summary>
public static class CudaDriverLocator
{
    private static int registered;

    /// <summary>Adds the fallback once per process; call it before the first ILGPU context is created.</summary>
    public static void Register()
    {
        if (Interlocked.Exchange(ref registered, 1) != 0) return;
        AssemblyLoadContext.Default.ResolvingUnmanagedDll += (_, name) =>
            // Called only after the default probing failed, so a libcuda.so that is present still wins.
            OperatingSystem.IsLinux() && name is "cuda" or "libcuda" or "libcuda.so"
                && NativeLibrary.TryLoad("libcuda.so.1", out IntPtr handle)
                ? handle
                : IntPtr.Zero;
    }
}
