using GpuDistill.SoftmaxKL;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Rows;

/// <summary>
/// Host side shared by the fused row losses (one row of student and teacher logits in, one loss value per row and
/// the gradient out): loads both kernel layouts of one loss once per accelerator, checks the views and launches.
/// Each loss's launcher gets one of these from <see cref="Accelerators.ComputeDevice.GetKernels{T}"/>.
/// </summary>
/// <typeparam name="TParameters">The loss's launch scalars.</typeparam>
public sealed class RowLossLauncher<TParameters> where TParameters : unmanaged, IRowLossParameters
{
    private readonly Accelerator accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TParameters>> rowPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TParameters>> rowPerGroup;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noLabels;
    private readonly bool groupLayoutOnGpus;

    /// <summary>Prepares the launcher; each kernel compiles on its first launch.</summary>
    /// <param name="accelerator">The accelerator to launch on.</param>
    /// <param name="rowPerThreadKernel">The loss's one-thread-per-row kernel.</param>
    /// <param name="rowPerGroupKernel">The loss's one-group-per-row kernel (grid-strides over rows).</param>
    /// <param name="groupLayoutOnGpus">False for a loss whose row-per-group kernel is not to be launched on GPUs: Auto
    /// then takes a thread per row there, and asking for a group per row is refused.</param>
    public RowLossLauncher(Accelerator accelerator,
        Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TParameters> rowPerThreadKernel,
        Action<ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, TParameters> rowPerGroupKernel,
        bool groupLayoutOnGpus = true)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        ArgumentNullException.ThrowIfNull(rowPerThreadKernel);
        ArgumentNullException.ThrowIfNull(rowPerGroupKernel);
        this.accelerator = accelerator;
        this.groupLayoutOnGpus = groupLayoutOnGpus;
        rowPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel(rowPerThreadKernel));
        rowPerGroup = new(() => accelerator.LoadStreamKernel(rowPerGroupKernel));
        noLabels = accelerator.Allocate1D<int>(1);
    }

    /// <summary>The layout <see cref="SoftmaxKLLayout.Auto"/> stands for on this accelerator at this row length.</summary>
    /// <exception cref="NotSupportedException">A group per row asked for on a GPU for a loss that does not launch it there.</exception>
    /// <param name="layout">The requested layout.</param>
    /// <param name="classes">Row length C.</param>
    /// <returns>A concrete layout.</returns>
    public SoftmaxKLLayout Resolve(SoftmaxKLLayout layout, int classes)
    {
        bool gpu = accelerator.AcceleratorType != AcceleratorType.CPU;
        if (layout == SoftmaxKLLayout.RowPerGroup && gpu && !groupLayoutOnGpus)
        {
            throw new NotSupportedException(
                "This loss's row-per-group kernel did not return on CUDA (H200, sm_90; measured by the GPU bundle's checks), so it is not launched on GPUs: use SoftmaxKLLayout.RowPerThread or Auto.");
        }
        if (layout != SoftmaxKLLayout.Auto) return layout;
        if (gpu && !groupLayoutOnGpus) return SoftmaxKLLayout.RowPerThread;
        // Measured on the CPU accelerator (perf/GpuDistill.Perf): a group per row took 113 ms at 256 x 10 and 14.7 s
        // at 4096 x 1000 against 1.1 ms and 64 ms for a thread per row; its group barriers never pay off there.
        if (accelerator.AcceleratorType == AcceleratorType.CPU) return SoftmaxKLLayout.RowPerThread;
        return classes >= SoftmaxKLLauncher.GroupRowThreshold ? SoftmaxKLLayout.RowPerGroup : SoftmaxKLLayout.RowPerThread;
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
        ArrayView<float> gradient, ArrayView<float> rowLoss, in TParameters p, SoftmaxKLLayout layout = SoftmaxKLLayout.Auto)
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
