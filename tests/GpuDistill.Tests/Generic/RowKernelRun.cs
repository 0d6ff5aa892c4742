using GpuDistill.Accelerators;
using GpuDistill.Rows;
using GpuDistill.SoftmaxKL;
using ILGPU.Runtime;

namespace GpuDistill.Tests.Generic;

/// <summary>Runs a fused row-loss kernel straight through its launcher on test arrays.</summary>
public static class RowKernelRun
{
    /// <summary>The loss (row losses summed in float64) and the gradient of one launch.</summary>
    public static (double Loss, float[] Gradient) Run<TParameters>(ComputeDevice device,
        RowLossLauncher<TParameters> launcher, float[] student, float[] teacher, int[]? labels, TParameters p,
        SoftmaxKLLayout layout) where TParameters : unmanaged, IRowLossParameters
    {
        Accelerator accelerator = device.Accelerator;
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var l = accelerator.Allocate1D(labels ?? [0]);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var r = accelerator.Allocate1D<float>(p.Rows);
        launcher.Launch(s.View, t.View, labels is null ? default : l.View, g.View, r.View, p, layout);
        accelerator.Synchronize();
        return (r.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D());
    }

    /// <summary>The row count N the kernels divide by.</summary>
    public static int Counted(int rows, int[]? labels) => labels is null ? rows : labels.Count(y => y != -100);
}
