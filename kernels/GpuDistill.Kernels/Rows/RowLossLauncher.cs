using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// Host side of one fused row loss on one accelerator: loads its two kernel layouts (the shared
/// <see cref="RowLossKernels"/> instantiated for <typeparamref name="TLoss"/>), checks the views and launches.
/// A device keeps one per loss (<c>ComputeDevice.Kernels&lt;RowLossLauncher&lt;TLoss&gt;&gt;()</c>).
/// </summary>
/// <typeparam name="TLoss">The row loss (its launch scalars and row function).</typeparam>
public sealed class RowLossLauncher<TLoss> : IKernelSet<RowLossLauncher<TLoss>> where TLoss : unmanaged, IRowLoss
{
    private readonly Accelerator accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, TLoss>> rowPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, TLoss>> rowPerGroup;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noLabels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> noTeacherGradient;

    private RowLossLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        rowPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, TLoss>(RowLossKernels.RowPerThread));
        rowPerGroup = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, TLoss>(RowLossKernels.RowPerGroup));
        noLabels = accelerator.Allocate1D<int>(1);
        noTeacherGradient = accelerator.Allocate1D<float>(1);
    }

    /// <summary>Rows at least this long go to a group per row on GPUs; shorter rows waste a group's lanes.</summary>
    public const int GroupRowThreshold = 256;

    /// <inheritdoc/>
    public static RowLossLauncher<TLoss> Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new RowLossLauncher<TLoss>(accelerator);
    }

    /// <summary>The layout <see cref="RowLayout.Auto"/> stands for on this accelerator at this row length.</summary>
    /// <exception cref="NotSupportedException">A group per row asked for on a GPU for a loss that does not launch it there.</exception>
    /// <param name="layout">The requested layout.</param>
    /// <param name="classes">Row length C.</param>
    /// <returns>A concrete layout.</returns>
    public RowLayout Resolve(RowLayout layout, int classes)
    {
        bool gpu = accelerator.AcceleratorType != AcceleratorType.CPU;
        if (layout == RowLayout.RowPerGroup && gpu && !TLoss.GroupLayoutOnGpus)
        {
            throw new NotSupportedException(
                "This loss's row-per-group kernel did not return on CUDA (H200, sm_90; measured by the GPU bundle's checks), so it is not launched on GPUs: use RowLayout.RowPerThread or Auto.");
        }
        if (layout != RowLayout.Auto) return layout;
        if (gpu && !TLoss.GroupLayoutOnGpus) return RowLayout.RowPerThread;
        // Measured on the CPU accelerator (perf/GpuDistill.Perf): a group per row took 113 ms at 256 x 10 and 14.7 s
        // at 4096 x 1000 against 1.1 ms and 64 ms for a thread per row; its group barriers never pay off there.
        if (accelerator.AcceleratorType == AcceleratorType.CPU) return RowLayout.RowPerThread;
        return classes >= GroupRowThreshold ? RowLayout.RowPerGroup : RowLayout.RowPerThread;
    }

    /// <summary>Enqueues one fused launch of a one-sided loss on the accelerator's default stream (the caller synchronises).</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B], or an empty view when <paramref name="loss"/> has none.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="loss">Launch scalars.</param>
    /// <param name="layout">Thread layout; <see cref="RowLayout.Auto"/> picks per accelerator.</param>
    /// <exception cref="ArgumentException">The loss is two-sided (it needs the overload with a teacher gradient).</exception>
    public void Launch(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, in TLoss loss, RowLayout layout = RowLayout.Auto) =>
        Launch(student, teacher, labels, gradient, default, rowLoss, loss, layout);

    /// <summary>
    /// Enqueues one fused launch on the accelerator's default stream (the caller synchronises); a two-sided loss
    /// (<see cref="IRowLoss.WritesTeacherGradient"/>) also writes <paramref name="teacherGradient"/>.
    /// </summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B], or an empty view when <paramref name="loss"/> has none.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="teacherGradient">Output d loss / d z_t, [B*C], for a two-sided loss; an empty view otherwise.</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="loss">Launch scalars.</param>
    /// <param name="layout">Thread layout; <see cref="RowLayout.Auto"/> picks per accelerator.</param>
    public void Launch(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> teacherGradient, ArrayView<float> rowLoss, in TLoss loss,
        RowLayout layout = RowLayout.Auto)
    {
        if (loss.Rows <= 0) throw new ArgumentOutOfRangeException(nameof(loss), loss.Rows, "rows (B) must be positive.");
        if (loss.Classes <= 0) throw new ArgumentOutOfRangeException(nameof(loss), loss.Classes, "classes (C) must be positive.");
        long elements = (long)loss.Rows * loss.Classes;
        RequireLength(student, elements, nameof(student));
        RequireLength(teacher, elements, nameof(teacher));
        RequireLength(gradient, elements, nameof(gradient));
        if (TLoss.WritesTeacherGradient) RequireLength(teacherGradient, elements, nameof(teacherGradient));
        else if (teacherGradient.Length != 0)
            throw new ArgumentException($"{typeof(TLoss).Name} writes no teacher gradient; pass an empty view.", nameof(teacherGradient));
        else teacherGradient = noTeacherGradient.View;
        RequireLength(rowLoss, loss.Rows, nameof(rowLoss));
        if (loss.HasLabels != 0) RequireLength(labels, loss.Rows, nameof(labels));
        else labels = noLabels.View;

        if (Resolve(layout, loss.Classes) == RowLayout.RowPerThread)
        {
            rowPerThread.Value(loss.Rows, student, teacher, labels, gradient, teacherGradient, rowLoss, loss);
            return;
        }

        rowPerGroup.Value(GroupGrid.PerItem(accelerator, loss.Rows), student, teacher, labels, gradient, teacherGradient,
            rowLoss, loss);
    }

    private static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }
}
