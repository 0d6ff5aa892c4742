using System.Runtime.InteropServices;
using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Interop;
using GpuDistill.Kernels.MultiTeacher;
using GpuDistill.Kernels.Rows;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the logit tensors that one fused multi-teacher call needs (already validated).</summary>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Layout">The kernel thread layout.</param>
/// <param name="Parameters">The launch scalars.</param>
/// <param name="Weights">Normalised fixed weights [K] (float32), or null with confidence weights.</param>
/// <param name="Labels">Contiguous int32 labels [B] with confidence weights, or null.</param>
internal sealed record MultiTeacherRequest(ComputeDevice Device, RowLayout Layout,
    MultiTeacherParameters Parameters, Tensor? Weights, Tensor? Labels);

/// <summary>
/// TorchSharp autograd function over <see cref="MultiTeacherLauncher"/>: student [B, C] and teachers [K, B, C] in,
/// the loss and the student's gradient out of one launch for all teachers. Its apply arguments are (student,
/// teachers, <see cref="MultiTeacherRequest"/>); the teachers never receive a gradient. On a
/// <see cref="AcceleratorKind.Simd"/> device it runs on the host SIMD backend (<see cref="HostSimdMultiTeacher"/>)
/// instead, as the single-teacher row losses do.
/// </summary>
internal sealed class MultiTeacherFunction : FusedLossFunction<MultiTeacherFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.MultiTeacherKD";

    /// <inheritdoc/>
    protected override (Tensor Loss, Tensor Gradient) Compute(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teachers = (Tensor)vars[1];
        var request = (MultiTeacherRequest)vars[2];
        MultiTeacherParameters p = request.Parameters;
        ComputeDevice device = request.Device;

        using Tensor s = student.detach().contiguous();
        using Tensor t = teachers.detach().contiguous();
        Tensor gradient = empty_like(s);
        using Tensor rowLoss = empty(p.Rows, ScalarType.Float32);

        if (device.UsesHostSimd)
        {
            // The host backend reads and writes the tensors' own memory on the calling threads: no views, no launch,
            // no lock (calls share nothing).
            HostSimdMultiTeacher.Run(MemoryMarshal.Cast<byte, float>(s.bytes), MemoryMarshal.Cast<byte, float>(t.bytes),
                request.Weights is null ? default : MemoryMarshal.Cast<byte, float>(request.Weights.bytes),
                request.Labels is null ? default : MemoryMarshal.Cast<byte, int>(request.Labels.bytes),
                MemoryMarshal.Cast<byte, float>(gradient.bytes), MemoryMarshal.Cast<byte, float>(rowLoss.bytes), p);
        }
        else
        {
            using Tensor statistics = empty(MultiTeacherLauncher.StatisticsLength(p.Rows, p.Teachers), ScalarType.Float32);
            lock (device.LaunchLock)
            {
                using var ds = DeviceArray<float>.ForInput(device, s);
                using var dt = DeviceArray<float>.ForInput(device, t);
                using var dw = request.Weights is null ? null : DeviceArray<float>.ForInput(device, request.Weights);
                using var dl = request.Labels is null ? null : DeviceArray<int>.ForInput(device, request.Labels);
                using var dstat = DeviceArray<float>.ForOutput(device, statistics);
                using var dg = DeviceArray<float>.ForOutput(device, gradient);
                using var dr = DeviceArray<float>.ForOutput(device, rowLoss);
                device.Kernels<MultiTeacherLauncher>().Launch(ds.View, dt.View, dw?.View ?? default, dl?.View ?? default,
                    dstat.View, dg.View, dr.View, p, request.Layout);
                device.Accelerator.Synchronize();
                dg.CopyToTensor();
                dr.CopyToTensor();
            }
        }

        // Both backends poison a row that holds NaN or infinity (any teacher's, even at weight 0), so the inputs
        // are checked only when the loss is not finite, off the normal path.
        double loss = RowLosses.SumFinite(rowLoss, gradient, s, t, "teachers", p.InverseTemperature);
        return (tensor((float)loss), gradient);
    }
}
