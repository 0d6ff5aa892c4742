using GpuDistill.Kernels.Relations.SimilarityPreserving;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over <see cref="SimilarityPreservingLauncher"/>.</summary>
internal sealed class SimilarityPreservingFunction : RelationalLossFunction<SimilarityPreservingFunction, RelationalRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.SimilarityPreserving";

    /// <inheritdoc/>
    protected override void Run(RelationalRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth) =>
        request.Device.Kernels<SimilarityPreservingLauncher>().Run(student, teacher, gradient, rowLoss, batch, studentWidth,
            teacherWidth);
}
