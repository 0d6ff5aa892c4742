using System.Runtime.InteropServices;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>What a host DIST call needs besides its two logit tensors (already validated).</summary>
/// <param name="Temperature">T.</param>
/// <param name="InterWeight">The rows' weight (beta).</param>
/// <param name="IntraWeight">The columns' weight (gamma).</param>
internal sealed record PearsonRelationsRequest(double Temperature, double InterWeight, double IntraWeight);

/// <summary>TorchSharp autograd function over <see cref="HostPearsonRelations"/> (DIST's loss and gradient in one
/// host call); its apply arguments are (student, teacher, request).</summary>
internal sealed class PearsonRelationsFunction : FusedLossFunction<PearsonRelationsFunction>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.PearsonRelations";

    /// <inheritdoc/>
    protected override (Tensor Loss, Tensor Gradient) Compute(object[] vars)
    {
        var student = (Tensor)vars[0];
        var teacher = (Tensor)vars[1];
        var request = (PearsonRelationsRequest)vars[2];
        using Tensor s = student.detach().contiguous();
        using Tensor t = teacher.detach().contiguous();
        Tensor gradient = empty_like(s);
        double loss = HostPearsonRelations.Run(MemoryMarshal.Cast<byte, float>(s.bytes), MemoryMarshal.Cast<byte, float>(t.bytes),
            MemoryMarshal.Cast<byte, float>(gradient.bytes), (int)s.shape[0], (int)s.shape[1], request.Temperature,
            request.InterWeight, request.IntraWeight);
        if (!double.IsFinite(loss))
        {
            // Probabilities bound every correlation, so only NaN or infinity in the logits gets here.
            gradient.Dispose();
            TensorChecks.RequireFinite(s, "student");
            TensorChecks.RequireFinite(t, "teacher");
            throw new ArgumentException("DIST's loss came out non-finite from finite logits.", "student");
        }
        return (tensor((float)loss), gradient);
    }
}
