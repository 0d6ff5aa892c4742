using GpuDistill.Compute;
using GpuDistill.Kernels.Quantization;
using ILGPU.Runtime;

namespace GpuDistill.References;

/// <summary>The fake-quantization kernels run straight on test arrays (plain ILGPU, no NUnit), results read back.</summary>
public static class QuantizationLaunches
{
    /// <summary>The range pass over rows of <paramref name="rowLength"/>.</summary>
    public static RangeStatistics[] Ranges(ComputeDevice device, float[] values, int rowLength)
    {
        using var x = device.Accelerator.Allocate1D(values);
        using var rows = device.Accelerator.Allocate1D<RangeStatistics>(values.Length / rowLength);
        device.Kernels<QuantizationLauncher>().Ranges(x.View, rows.View, rowLength);
        return rows.GetAsArray1D();
    }

    /// <summary>The fake-quant pass: x^, the mask and the non-finite count.</summary>
    public static (float[] Output, bool[] Passes, int NonFinite) FakeQuantize(ComputeDevice device, float[] values,
        float[] scales, float[] zeroPoints, int qmin, int qmax)
    {
        using var x = device.Accelerator.Allocate1D(values);
        using var s = device.Accelerator.Allocate1D(scales);
        using var z = device.Accelerator.Allocate1D(zeroPoints);
        using var output = device.Accelerator.Allocate1D<float>(values.Length);
        using var passes = device.Accelerator.Allocate1D<byte>(values.Length);
        int bad = device.Kernels<QuantizationLauncher>().FakeQuantize(x.View, s.View, z.View, output.View, passes.View,
            values.Length / scales.Length, qmin, qmax);
        return (output.GetAsArray1D(), [.. passes.GetAsArray1D().Select(p => p != 0)], bad);
    }

    /// <summary>The LSQ pass: x^, the mask, d x^ / d s per element and the non-finite count.</summary>
    public static (float[] Output, bool[] Passes, float[] StepGradient, int NonFinite) FakeQuantizeLearned(
        ComputeDevice device, float[] values, float scale, int qn, int qp)
    {
        using var x = device.Accelerator.Allocate1D(values);
        using var output = device.Accelerator.Allocate1D<float>(values.Length);
        using var passes = device.Accelerator.Allocate1D<byte>(values.Length);
        using var step = device.Accelerator.Allocate1D<float>(values.Length);
        int bad = device.Kernels<QuantizationLauncher>().FakeQuantizeLearned(x.View, output.View, passes.View, step.View,
            scale, qn, qp);
        return (output.GetAsArray1D(), [.. passes.GetAsArray1D().Select(p => p != 0)], step.GetAsArray1D(), bad);
    }
}
