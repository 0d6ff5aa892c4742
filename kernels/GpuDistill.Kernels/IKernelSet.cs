using ILGPU.Runtime;

namespace GpuDistill.Kernels;

/// <summary>
/// A launcher: kernels loaded on one accelerator with the host-side code that checks views and launches them. A
/// device keeps one of each per accelerator (GpuDistill.Compute's <c>ComputeDevice.Kernels&lt;T&gt;()</c>), so
/// every kernel compiles once.
/// </summary>
/// <typeparam name="TSelf">The launcher type.</typeparam>
public interface IKernelSet<TSelf> where TSelf : class, IKernelSet<TSelf>
{
    /// <summary>Loads the kernels on <paramref name="accelerator"/> (each compiles on its first launch).</summary>
    /// <param name="accelerator">The accelerator to launch on.</param>
    /// <returns>The launcher.</returns>
    static abstract TSelf Load(Accelerator accelerator);
}
