using System.Runtime.InteropServices;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Interop;
using GpuDistill.Kernels.Relations.RelationalAngle;
using ILGPU;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>
/// TorchSharp autograd function over <see cref="RelationalAngleLauncher"/>; on a host device, libtorch's GEMM for the
/// two centred Gram matrices and the gradient's product, <see cref="HostRelationalAngle"/> for the angles between.
/// </summary>
internal sealed class RelationalAngleFunction : RelationalLossFunction<RelationalAngleFunction, RelationalRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.RelationalAngle";

    /// <inheritdoc/>
    protected override void Run(RelationalRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth) =>
        request.Device.Kernels<RelationalAngleLauncher>().Run(student, teacher, gradient, rowLoss, batch, studentWidth,
            teacherWidth);

    /// <inheritdoc/>
    protected override bool RunOnHost(RelationalRequest request, Tensor student, Tensor teacher, Tensor gradient,
        Tensor rowLoss)
    {
        int batch = (int)student.shape[0];
        using var scope = NewDisposeScope();
        Tensor centred = Centred(student);
        Tensor mixing = empty(batch, batch, ScalarType.Float32);
        HostRelationalAngle.Run(Floats(SymmetricGram(centred)), Floats(SymmetricGram(Centred(teacher))), Floats(mixing),
            Floats(rowLoss), batch);
        gradient.copy_(mixing.mm(centred));
        return true;
    }

    private static Tensor Centred(Tensor features) => features.sub(features.mean([0], keepdim: true));

    /// <summary>E E^T with G_ij and G_ji equal bit for bit (a GEMM need not make them so; the angles' gradient
    /// assumes a symmetric G).</summary>
    private static Tensor SymmetricGram(Tensor centred)
    {
        using Scalar half = 0.5.ToScalar();
        Tensor gram = centred.mm(centred.t());
        return gram.add(gram.t()).mul_(half).contiguous();
    }

    private static Span<float> Floats(Tensor tensor) => MemoryMarshal.Cast<byte, float>(tensor.bytes);
}
