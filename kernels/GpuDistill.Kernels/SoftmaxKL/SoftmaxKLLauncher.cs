using GpuDistill.Accelerators;
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

    private readonly Accelerator accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, SoftmaxKLParameters>> rowPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, SoftmaxKLParameters>> rowPerGroup;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noLabels;

    private SoftmaxKLLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        rowPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, SoftmaxKLParameters>(SoftmaxKLKernels.RowPerThread));
        rowPerGroup = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, SoftmaxKLParameters>(SoftmaxKLKernels.RowPerGroup));
        noLabels = accelerator.Allocate1D<int>(1);
    }

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
    public SoftmaxKLLayout Resolve(SoftmaxKLLayout layout, int classes)
    {
        if (layout != SoftmaxKLLayout.Auto) return layout;
        // Measured on the CPU accelerator (docs/perf): its group barriers cost more than they save at every size.
        if (accelerator.AcceleratorType == AcceleratorType.CPU) return SoftmaxKLLayout.RowPerThread;
        return classes >= GroupRowThreshold ? SoftmaxKLLayout.RowPerGroup : SoftmaxKLLayout.RowPerThread;
    }

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
        SoftmaxKLLayout layout = SoftmaxKLLayout.Auto)
    {
        if (p.Rows <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Rows, "rows (B) must be positive.");
        if (p.Classes <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Classes, "classes (C) must be positive.");
        long elements = (long)p.Rows * p.Classes;
        RequireLength(student, elements, nameof(student));
        RequireLength(teacher, elements, nameof(teacher));
        RequireLength(gradient, elements, nameof(gradient));
        RequireLength(rowLoss, p.Rows, nameof(rowLoss));
        if (p.HasLabels != 0) RequireLength(labels, p.Rows, nameof(labels));
        else labels = noLabels.View;

        if (Resolve(layout, p.Classes) == SoftmaxKLLayout.RowPerThread)
        {
            rowPerThread.Value(p.Rows, student, teacher, labels, gradient, rowLoss, p);
            return;
        }

        int warp = Math.Max(1, accelerator.WarpSize);
        int groupSize = Math.Min(accelerator.MaxNumThreadsPerGroup, 256) / warp * warp;
        groupSize = Math.Max(groupSize, warp);
        int resident = accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / groupSize);
        int groups = Math.Min(p.Rows, Math.Max(1, resident * 2));
        rowPerGroup.Value(new KernelConfig(groups, groupSize), student, teacher, labels, gradient, rowLoss, p);
    }

    private static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }
}
