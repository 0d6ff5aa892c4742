using GpuDistill.Accelerators;
using GpuDistill.Rows;

namespace GpuDistill.DecoupledKD;

/// <summary>Host side of the fused DKD kernels: one <see cref="RowLossLauncher{TParameters}"/> per device.</summary>
public static class DecoupledKDLauncher
{
    /// <summary>The launcher of <paramref name="device"/>, created on first use (kernels compile on first launch).</summary>
    /// <param name="device">The device to launch on.</param>
    /// <returns>The cached launcher.</returns>
    public static RowLossLauncher<DecoupledKDParameters> For(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return device.GetKernels(a => new RowLossLauncher<DecoupledKDParameters>(
            a, DecoupledKDKernels.RowPerThread, DecoupledKDKernels.RowPerGroup));
    }
}
