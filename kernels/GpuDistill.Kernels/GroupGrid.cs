using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels;

/// <summary>The launch shape of the kernels that give each item (a row, a channel) a group and grid-stride over the rest.</summary>
public static class GroupGrid
{
    /// <summary>
    /// Groups of up to 256 threads (whole warps), and twice as many groups as the accelerator keeps resident, or
    /// fewer when there are fewer items.
    /// </summary>
    /// <param name="accelerator">The accelerator to launch on.</param>
    /// <param name="items">Items (rows, channels) to share out, at least 1.</param>
    /// <returns>The grid and group size.</returns>
    public static KernelConfig PerItem(Accelerator accelerator, int items)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        int warp = Math.Max(1, accelerator.WarpSize);
        int groupSize = Math.Max(warp, Math.Min(accelerator.MaxNumThreadsPerGroup, 256) / warp * warp);
        int resident = accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / groupSize);
        return new KernelConfig(Math.Min(items, Math.Max(1, resident * 2)), groupSize);
    }
}
