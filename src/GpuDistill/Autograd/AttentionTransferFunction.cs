using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Interop;
using GpuDistill.Validation;
using ILGPU.Runtime;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Everything but the two feature tensors that one fused attention-transfer call needs (validated).</summary>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Parameters">The launch scalars.</param>
internal sealed record AttentionTransferRequest(ComputeDevice Device, AttentionTransferParameters Parameters);

/// <summary>
/// TorchSharp autograd function over <see cref="AttentionTransferLauncher.LaunchLoss"/>: student and teacher
/// features [B, C, H, W] of one spatial size in, the loss and d loss / d student out of one fused call. Its apply
/// arguments are (student, teacher, <see cref="AttentionTransferRequest"/>).
/// </summary>
internal sealed class AttentionTransferFunction : FusedLossFunction<AttentionTransferFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.Kernels.AttentionTransfer";

    /// <inheritdoc/>
    protected override (Tensor Loss, Tensor Gradient) Compute(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (AttentionTransferRequest)vars[2];
        AttentionTransferParameters p = request.Parameters;
        ComputeDevice device = request.Device;

        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        using Tensor exampleLoss = empty(p.Student.Batch, ScalarType.Float32);
        AttentionTransferLauncher launcher = device.Kernels<AttentionTransferLauncher>();

        lock (device.LaunchLock)
        {
            Accelerator accelerator = device.Accelerator;
            using var ds = DeviceArray<float>.ForInput(device, s);
            using var dt = DeviceArray<float>.ForInput(device, t);
            using var dg = DeviceArray<float>.ForOutput(device, gradient);
            using var dl = DeviceArray<float>.ForOutput(device, exampleLoss);
            // The three [B, H*W] intermediates never leave the accelerator.
            using var studentSums = accelerator.Allocate1D<float>(p.Student.MapEntries);
            using var teacherSums = accelerator.Allocate1D<float>(p.Student.MapEntries);
            using var mapGradient = accelerator.Allocate1D<float>(p.Student.MapEntries);
            launcher.LaunchLoss(ds.View, dt.View, studentSums.View, teacherSums.View, mapGradient.View, dg.View, dl.View, p);
            accelerator.Synchronize();
            dg.CopyToTensor();
            dl.CopyToTensor();
        }

        double loss = RowLosses.Sum(exampleLoss);
        if (!double.IsFinite(loss))
        {
            gradient.Dispose();
            TensorChecks.RequireFiniteFeatures(s, "student");
            TensorChecks.RequireFiniteFeatures(t, "teacher");
            throw new ArgumentException(
                $"The attention map overflowed float32: |f|^p with p = {p.Student.Exponent} summed over channels must stay within float32 range.",
                "student");
        }
        return (tensor((float)loss), gradient);
    }
}
