using GpuDistill.Compute;
using GpuDistill.Kernels.BatchNormStatistics;
using GpuDistill.Kernels.Relations.FlowMatrix;
using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.References;

/// <summary>
/// Runs a kernel family straight on test arrays and reads back the loss (the per-row shares summed in float64) and
/// the gradient. Plain ILGPU, no NUnit: the test suite and the GPU bundle's checks share it.
/// </summary>
public static class KernelLaunches
{
    /// <summary>A row-loss launch on device views: student, teacher, labels (empty without), gradient, row losses.</summary>
    public delegate void Rows(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss);

    /// <summary>A relation launch on device views: student, teacher, gradient, per-row loss.</summary>
    public delegate void Pair(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss);

    /// <summary>
    /// A two-sided row-loss launch on device views: student, teacher, labels (empty without), student gradient,
    /// teacher gradient, row losses.
    /// </summary>
    public delegate void TwoSidedRows(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> teacherGradient, ArrayView<float> rowLoss);

    /// <summary>One row-loss launch on logits [B*C] and labels [B] (or null).</summary>
    public static (double Loss, float[] Gradient) RunRows(ComputeDevice device, float[] student, float[] teacher,
        int[]? labels, int rows, Rows launch)
    {
        (double loss, float[] gradient, _) = RunRows(device, student, teacher, labels, rows, twoSided: false,
            (s, t, l, g, _, r) => launch(s, t, l, g, r));
        return (loss, gradient);
    }

    /// <summary>One launch of a two-sided row loss on logits [B*C] and labels [B] (or null): loss and both gradients.</summary>
    public static (double Loss, float[] StudentGradient, float[] TeacherGradient) RunTwoSidedRows(ComputeDevice device,
        float[] student, float[] teacher, int[]? labels, int rows, TwoSidedRows launch) =>
        RunRows(device, student, teacher, labels, rows, twoSided: true, launch);

    private static (double Loss, float[] Gradient, float[] TeacherGradient) RunRows(ComputeDevice device,
        float[] student, float[] teacher, int[]? labels, int rows, bool twoSided, TwoSidedRows launch)
    {
        Accelerator accelerator = device.Accelerator;
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var l = accelerator.Allocate1D(labels ?? [0]);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var tg = accelerator.Allocate1D<float>(twoSided ? student.Length : 1);
        using var r = accelerator.Allocate1D<float>(rows);
        launch(s.View, t.View, labels is null ? default : l.View, g.View, twoSided ? tg.View : default, r.View);
        accelerator.Synchronize();
        return (r.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D(), twoSided ? tg.GetAsArray1D() : []);
    }

    /// <summary>One relation launch on student and teacher features of a batch of <paramref name="batch"/>.</summary>
    public static (double Loss, float[] Gradient) RunPair(ComputeDevice device, float[] student, float[] teacher,
        int batch, Pair launch)
    {
        Accelerator accelerator = device.Accelerator;
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var r = accelerator.Allocate1D<float>(batch);
        launch(s.View, t.View, g.View, r.View);
        accelerator.Synchronize();
        return (r.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D());
    }

    /// <summary>
    /// One FSP launch on the student's and teacher's bottom [B, C1, area] and top [B, C2, area] maps; the gradient is
    /// the student bottom's followed by the student top's.
    /// </summary>
    public static (double Loss, float[] Gradient) RunFlow(ComputeDevice device, float[] studentBottom, float[] studentTop,
        float[] teacherBottom, float[] teacherTop, int batch, int bottomChannels, int topChannels, int studentArea,
        int teacherArea)
    {
        Accelerator accelerator = device.Accelerator;
        using var sb = accelerator.Allocate1D(studentBottom);
        using var st = accelerator.Allocate1D(studentTop);
        using var tb = accelerator.Allocate1D(teacherBottom);
        using var tt = accelerator.Allocate1D(teacherTop);
        using var gb = accelerator.Allocate1D<float>(studentBottom.Length);
        using var gt = accelerator.Allocate1D<float>(studentTop.Length);
        using var r = accelerator.Allocate1D<float>(batch);
        device.Kernels<FlowMatrixLauncher>().Run(sb.View, st.View, tb.View, tt.View, gb.View, gt.View, r.View, batch,
            bottomChannels, topChannels, studentArea, teacherArea);
        accelerator.Synchronize();
        return (r.GetAsArray1D().Sum(v => (double)v), [.. gb.GetAsArray1D(), .. gt.GetAsArray1D()]);
    }

    /// <summary>
    /// One run of the batch-norm statistics kernels on the layers' inputs (concatenated) and running statistics
    /// (concatenated per layer): the loss (the layers' losses summed in float64), the gradient, and the per-channel
    /// batch means and variances.
    /// </summary>
    public static (double Loss, float[] Gradient, float[] Mean, float[] Variance) RunBatchNormStatistics(
        ComputeDevice device, float[] input, IReadOnlyList<BatchNormLayer> layers, float[] runningMean,
        float[] runningVariance, RowLayout layout)
    {
        Accelerator accelerator = device.Accelerator;
        int channels = runningMean.Length;
        using var x = accelerator.Allocate1D(input);
        using var values = accelerator.Allocate1D([.. new float[2 * channels], .. runningMean, .. runningVariance]);
        using var g = accelerator.Allocate1D<float>(input.Length);
        using var r = accelerator.Allocate1D<float>(layers.Count);
        device.Kernels<BatchNormStatisticsLauncher>().Run(x.View, layers, values.View, g.View, r.View, layout);
        float[] all = values.GetAsArray1D();
        return (r.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D(), all[..channels], all[channels..(2 * channels)]);
    }
}
