using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.MultiTeacher;

/// <summary>
/// Host side of the fused multi-teacher kernels for one accelerator: loads each layout once, checks the views and
/// launches all K teachers in one launch. A device keeps one per accelerator (<c>ComputeDevice.Kernels&lt;T&gt;()</c>).
/// </summary>
public sealed class MultiTeacherLauncher : IKernelSet<MultiTeacherLauncher>
{
    private readonly Accelerator accelerator;
    private readonly Lazy<Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MultiTeacherParameters>> rowPerThread;
    private readonly Lazy<Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MultiTeacherParameters>> rowPerGroup;
    private readonly MemoryBuffer1D<int, Stride1D.Dense> noLabels;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> noWeights;

    private MultiTeacherLauncher(Accelerator accelerator)
    {
        this.accelerator = accelerator;
        rowPerThread = new(() => accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MultiTeacherParameters>(
            MultiTeacherKernels.RowPerThread));
        rowPerGroup = new(() => accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>, MultiTeacherParameters>(
            MultiTeacherKernels.RowPerGroup));
        noLabels = accelerator.Allocate1D<int>(1);
        noWeights = accelerator.Allocate1D<float>(1);
    }

    /// <inheritdoc/>
    public static MultiTeacherLauncher Load(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        return new MultiTeacherLauncher(accelerator);
    }

    /// <summary>Length of the scratch view a launch needs: B*K*4 floats (each teacher's max, log-sum and log weight).</summary>
    /// <param name="rows">B.</param>
    /// <param name="teachers">K.</param>
    /// <returns>The number of floats.</returns>
    public static long StatisticsLength(int rows, int teachers) => (long)rows * teachers * MultiTeacherRow.StatisticsPerTeacher;

    /// <summary>The layout <see cref="RowLayout.Auto"/> stands for on this accelerator at this row length.</summary>
    /// <param name="layout">The requested layout.</param>
    /// <param name="classes">Row length C.</param>
    /// <returns>A concrete layout.</returns>
    public RowLayout Resolve(RowLayout layout, int classes)
    {
        if (layout != RowLayout.Auto) return layout;
        // As for the single-teacher kernels: group barriers never pay off on the CPU simulator.
        if (accelerator.AcceleratorType == AcceleratorType.CPU) return RowLayout.RowPerThread;
        return classes >= RowLossLauncher<SoftmaxKLRow>.GroupRowThreshold ? RowLayout.RowPerGroup : RowLayout.RowPerThread;
    }

    /// <summary>Enqueues one fused launch for all teachers on the accelerator's default stream (the caller synchronises).</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teachers">Teacher logits, [K*B*C], teacher-major.</param>
    /// <param name="weights">Fixed weights, [K], finite, &gt;= 0, with a positive sum (normalised in the kernel); an
    /// empty view with confidence weights.</param>
    /// <param name="labels">Labels, [B], each in [0, C), for confidence weights; an empty view with fixed weights.</param>
    /// <param name="statistics">Scratch, <see cref="StatisticsLength"/> floats; its contents are overwritten.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="layout">Thread layout; <see cref="RowLayout.Auto"/> picks per accelerator.</param>
    public void Launch(ArrayView<float> student, ArrayView<float> teachers, ArrayView<float> weights,
        ArrayView<int> labels, ArrayView<float> statistics, ArrayView<float> gradient, ArrayView<float> rowLoss,
        in MultiTeacherParameters p, RowLayout layout = RowLayout.Auto)
    {
        if (p.Rows <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Rows, "rows (B) must be positive.");
        if (p.Classes <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Classes, "classes (C) must be positive.");
        if (p.Teachers <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Teachers, "teachers (K) must be positive.");
        long elements = (long)p.Rows * p.Classes;
        RequireLength(student, elements, nameof(student));
        RequireLength(teachers, elements * p.Teachers, nameof(teachers));
        RequireLength(statistics, StatisticsLength(p.Rows, p.Teachers), nameof(statistics));
        RequireLength(gradient, elements, nameof(gradient));
        RequireLength(rowLoss, p.Rows, nameof(rowLoss));
        if (p.Confidence != 0)
        {
            RequireLength(labels, p.Rows, nameof(labels));
            weights = noWeights.View;
        }
        else
        {
            RequireLength(weights, p.Teachers, nameof(weights));
            labels = noLabels.View;
        }

        if (Resolve(layout, p.Classes) == RowLayout.RowPerThread)
        {
            rowPerThread.Value(p.Rows, student, teachers, weights, labels, statistics, gradient, rowLoss, p);
            return;
        }

        rowPerGroup.Value(GroupGrid.PerItem(accelerator, p.Rows), student, teachers, weights, labels, statistics, gradient,
            rowLoss, p);
    }

    private static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }
}
