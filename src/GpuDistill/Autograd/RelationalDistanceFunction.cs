using GpuDistill.Kernels.Relations.RelationalDistance;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over <see cref="RelationalDistanceLauncher"/>.</summary>
internal sealed class RelationalDistanceFunction : RelationalLossFunction<RelationalDistanceFunction, RelationalRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.RelationalDistance";

    /// <inheritdoc/>
    protected override void Run(RelationalRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth) =>
        request.Device.Kernels<RelationalDistanceLauncher>().Run(student, teacher, gradient, rowLoss, batch, studentWidth,
            teacherWidth);
}
