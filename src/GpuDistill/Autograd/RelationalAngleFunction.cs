using GpuDistill.Kernels.Relations.RelationalAngle;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over <see cref="RelationalAngleLauncher"/>.</summary>
internal sealed class RelationalAngleFunction : RelationalLossFunction<RelationalAngleFunction, RelationalRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.RelationalAngle";

    /// <inheritdoc/>
    protected override void Run(RelationalRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth) =>
        request.Device.Kernels<RelationalAngleLauncher>().Run(student, teacher, gradient, rowLoss, batch, studentWidth,
            teacherWidth);
}
