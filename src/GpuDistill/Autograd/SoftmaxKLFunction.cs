using GpuDistill.Accelerators;
using GpuDistill.Interop;
using GpuDistill.SoftmaxKL;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the two logit tensors that one fused KL call needs (already validated).</summary>
internal sealed record SoftmaxKLRequest(
    ComputeDevice Device, SoftmaxKLLayout Layout, SoftmaxKLParameters Parameters, Tensor? Labels);

/// <summary>TorchSharp autograd function over <see cref="SoftmaxKLLauncher"/>.</summary>
internal sealed class SoftmaxKLFunction : FusedLossFunction<SoftmaxKLFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.SoftmaxKL";

    /// <inheritdoc/>
    protected override (Tensor Loss, Tensor Gradient) Compute(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (SoftmaxKLRequest)vars[2];
        SoftmaxKLParameters p = request.Parameters;
        ComputeDevice device = request.Device;

        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        using Tensor rowLoss = empty(p.Rows, ScalarType.Float32);

        lock (device.LaunchLock)
        {
            using var ds = DeviceArray<float>.ForInput(device, s);
            using var dt = DeviceArray<float>.ForInput(device, t);
            using var dl = request.Labels is null ? null : DeviceArray<int>.ForInput(device, request.Labels);
            using var dg = DeviceArray<float>.ForOutput(device, gradient);
            using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
            SoftmaxKLLauncher.For(device).Launch(ds.View, dt.View, dl?.View ?? default, dg.View, dr.View, p, request.Layout);
            device.Accelerator.Synchronize();
            dg.CopyToTensor();
            dr.CopyToTensor();
        }

        double loss = RowLosses.Sum(rowLoss);
        if (!double.IsFinite(loss))
        {
            gradient.Dispose();
            TensorChecks.RequireFinite(s, "student");
            TensorChecks.RequireFinite(t, "teacher");
            throw new ArgumentException(
                $"The loss overflowed float32: student and teacher logits divided by the temperature ({1 / p.InverseTemperature}) must stay within float32 range.",
                "student");
        }
        return (tensor((float)loss), gradient);
    }
}
