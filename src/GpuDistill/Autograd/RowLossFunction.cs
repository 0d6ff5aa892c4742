using System.Runtime.InteropServices;
using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Interop;
using GpuDistill.Kernels.Rows;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the two logit tensors that one fused row-loss call needs (already validated).</summary>
/// <typeparam name="TLoss">The row loss (its launch scalars).</typeparam>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Layout">The kernel thread layout.</param>
/// <param name="Loss">The launch scalars.</param>
/// <param name="Labels">Contiguous int32 labels [B], or null.</param>
internal sealed record RowLossRequest<TLoss>(ComputeDevice Device, RowLayout Layout, TLoss Loss, Tensor? Labels)
    where TLoss : unmanaged, IRowLoss;

/// <summary>
/// Autograd function over a fused row loss (student and teacher logits [B, C] in; per-row loss and the student's
/// gradient out, in one launch), one for every row loss: the loss is the type argument. Moves the tensors to the
/// device, launches the shared row kernels, and sums the row losses in float64. A two-sided loss
/// (<see cref="IRowLoss.WritesTeacherGradient"/>) also gives the teacher logits their gradient, when they require one
/// (a generator learning through a frozen teacher). On a <see cref="AcceleratorKind.Simd"/> device a loss with a host
/// implementation (<typeparamref name="THost"/>) runs there instead. Its apply arguments are (student, teacher,
/// <see cref="RowLossRequest{TLoss}"/>).
/// </summary>
/// <typeparam name="TLoss">The row loss.</typeparam>
/// <typeparam name="THost">Its host SIMD implementation, or <see cref="NoHostPath{TLoss}"/>.</typeparam>
internal sealed class RowLossFunction<TLoss, THost> : FusedGradientsFunction<RowLossFunction<TLoss, THost>>
    where TLoss : unmanaged, IRowLoss
    where THost : struct, IHostRowLoss<THost, TLoss>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill." + typeof(TLoss).Name;

    /// <inheritdoc/>
    protected override (Tensor Loss, IReadOnlyList<Tensor?> Gradients) ComputeGradients(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (RowLossRequest<TLoss>)vars[2];
        TLoss p = request.Loss;
        ComputeDevice device = request.Device;

        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        Tensor? teacherGradient = TLoss.WritesTeacherGradient ? empty_like(t) : null;
        using Tensor rowLoss = empty(p.Rows, ScalarType.Float32);

        if (device.UsesHostSimd && THost.Exists)
        {
            // The host backend reads and writes the tensors' own memory on the calling threads: no views, no launch,
            // no lock (calls share nothing). No two-sided loss has a host implementation.
            HostSimdRowLoss.Run<THost, TLoss>(MemoryMarshal.Cast<byte, float>(s.bytes), MemoryMarshal.Cast<byte, float>(t.bytes),
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
                using var dtg = teacherGradient is null ? null : DeviceArray<float>.ForOutput(device, teacherGradient);
                using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
                device.Kernels<RowLossLauncher<TLoss>>().Launch(ds.View, dt.View, dl?.View ?? default, dg.View,
                    dtg?.View ?? default, dr.View, p, request.Layout);
                device.Accelerator.Synchronize();
                dg.CopyToTensor();
                dtg?.CopyToTensor();
                dr.CopyToTensor();
            }
        }

        double loss;
        try
        {
            loss = RowLosses.SumFinite(rowLoss, gradient, s, t, "teacher", p.InverseTemperature);
        }
        catch (ArgumentException)
        {
            teacherGradient?.Dispose();
            throw;
        }
        if (teacherGradient is null) return (tensor((float)loss), [gradient]);
        if (teacher.requires_grad) return (tensor((float)loss), [gradient, teacherGradient]);
        teacherGradient.Dispose();
        return (tensor((float)loss), [gradient]);
    }
}
