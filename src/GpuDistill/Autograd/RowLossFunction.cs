using System.Runtime.InteropServices;
using GpuDistill.Accelerators;
using GpuDistill.HostSimd;
using GpuDistill.Interop;
using GpuDistill.Rows;
using GpuDistill.SoftmaxKL;
using ILGPU;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the two logit tensors that one fused row-loss call needs (already validated).</summary>
/// <typeparam name="TParameters">The loss's launch scalars.</typeparam>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Layout">The kernel thread layout.</param>
/// <param name="Parameters">The launch scalars.</param>
/// <param name="Labels">Contiguous int32 labels [B], or null.</param>
internal sealed record RowLossRequest<TParameters>(
    ComputeDevice Device, SoftmaxKLLayout Layout, TParameters Parameters, Tensor? Labels)
    where TParameters : unmanaged, IRowLossParameters;

/// <summary>
/// Autograd function over a fused row-loss kernel (student and teacher logits [B, C] in; per-row loss and the
/// student's gradient out, in one launch). Moves the tensors to the device, launches, and sums the row losses in
/// float64. On a <see cref="AcceleratorKind.Simd"/> device the losses the host backend covers run there instead. Its apply arguments are (student, teacher, <see cref="RowLossRequest{TParameters}"/>).
/// </summary>
/// <typeparam name="TSelf">The concrete function.</typeparam>
/// <typeparam name="TParameters">The loss's launch scalars.</typeparam>
internal abstract class RowLossFunction<TSelf, TParameters> : FusedLossFunction<TSelf>
    where TSelf : RowLossFunction<TSelf, TParameters>, new()
    where TParameters : unmanaged, IRowLossParameters
{
    /// <summary>Enqueues the loss's kernel (the caller holds the device's launch lock and synchronises).</summary>
    /// <param name="device">The device.</param>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B], or an empty view.</param>
    /// <param name="gradient">Output gradient, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    /// <param name="layout">Thread layout.</param>
    protected abstract void Launch(ComputeDevice device, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in TParameters p, SoftmaxKLLayout layout);

    /// <inheritdoc/>
    protected sealed override (Tensor Loss, Tensor Gradient) Compute(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (RowLossRequest<TParameters>)vars[2];
        TParameters p = request.Parameters;
        ComputeDevice device = request.Device;

        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        using Tensor rowLoss = empty(p.Rows, ScalarType.Float32);

        if (device.UsesHostSimd && HostSimdRowLoss.Supports<TParameters>())
        {
            // The host backend reads and writes the tensors' own memory on the calling threads: no views, no launch,
            // no lock (calls share nothing).
            HostSimdRowLoss.Run(MemoryMarshal.Cast<byte, float>(s.bytes), MemoryMarshal.Cast<byte, float>(t.bytes),
                request.Labels is null ? default : MemoryMarshal.Cast<byte, int>(request.Labels.bytes),
                MemoryMarshal.Cast<byte, float>(gradient.bytes), MemoryMarshal.Cast<byte, float>(rowLoss.bytes), p);
        }
        else
        {
            lock (device.LaunchLock)
            {
                using var ds = DeviceArray<float>.ForInput(device, s);
                using var dt = DeviceArray<float>.ForInput(device, t);
                using var dl = request.Labels is null ? null : DeviceArray<int>.ForInput(device, request.Labels);
                using var dg = DeviceArray<float>.ForOutput(device, gradient);
                using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
                Launch(device, ds.View, dt.View, dl?.View ?? default, dg.View, dr.View, p, request.Layout);
                device.Accelerator.Synchronize();
                dg.CopyToTensor();
                dr.CopyToTensor();
            }
        }

        double loss = RowLosses.SumFinite(rowLoss, gradient, s, t, "teacher", p.InverseTemperature);
        return (tensor((float)loss), gradient);
    }
}
