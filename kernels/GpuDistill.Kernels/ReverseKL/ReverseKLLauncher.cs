using GpuDistill.Accelerators;
using GpuDistill.Rows;

namespace GpuDistill.ReverseKL;

/// <summary>Host side of the fused reverse-KL kernels: one <see cref="RowLossLauncher{TParameters}"/> per device.</summary>
public static class ReverseKLLauncher
{
    /// <summary>The launcher of <paramref name="device"/>, created on first use (kernels compile on first launch).</summary>
    /// <param name="device">The device to launch on.</param>
    /// <returns>The cached launcher.</returns>
    public static RowLossLauncher<ReverseKLParameters> For(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return device.GetKernels(a => new RowLossLauncher<ReverseKLParameters>(
            a, ReverseKLKernels.RowPerThread, ReverseKLKernels.RowPerGroup,
            // The row-per-group kernel hung on an H200 (cause not found; see README, GPU bundle): GPUs take a thread per row.
            groupLayoutOnGpus: false));
    }
}
