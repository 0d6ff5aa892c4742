using GpuDistill.Accelerators;
using GpuDistill.Rows;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.SoftmaxKL;

/// <summary>
/// Host side of the fused KL kernels for one accelerator: loads each layout once, checks the views and launches.
/// Get it with <see cref="For"/>, which caches it on the device.
/// </summary>
public sealed class SoftmaxKLLauncher
{
    /// <summary>Rows at least this long go to a group per row on GPUs; shorter rows waste a group's lanes.</summary>
    public const int GroupRowThreshold = 256;

    private readonly RowLossLauncher<SoftmaxKLParameters> launcher;

    private SoftmaxKLLauncher(Accelerator accelerator) =>
        launcher = new(accelerator, SoftmaxKLKernels.RowPerThread, SoftmaxKLKernels.RowPerGroup);

    /// <summary>The launcher of <paramref name="device"/>, created and compiled on first use.</summary>
    /// <param name="device">The device to launch on.</param>
    /// <returns>The cached launcher.</returns>
    public static SoftmaxKLLauncher For(ComputeDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return device.GetKernels(a => new SoftmaxKLLauncher(a));
    }

    /// <summary>The layout <see cref="SoftmaxKLLayout.Auto"/> stands for on this accelerator at this row length.</summary>
    /// <param name="layout">The requested layout.</param>
    /// <param name="classes">Row length C.</param>
    /// <returns>A concrete layout.</returns>
    public SoftmaxKLLayout Resolve(SoftmaxKLLayout layout, int classes) => launcher.Resolve(layout, classes);

    /// <summary>Enqueues one fused launch on the accelerator's default stream (the caller synchronises).</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B], or an empty view when <paramref name="p"/> has none.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="layout">Thread layout; <see cref="SoftmaxKLLayout.Auto"/> picks per accelerator.</param>
    public void Launch(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, in SoftmaxKLParameters p,
        SoftmaxKLLayout layout = SoftmaxKLLayout.Auto) =>
        launcher.Launch(student, teacher, labels, gradient, rowLoss, p, layout);
}
