using GpuDistill.Kernels.Relations.CorrelationCongruence;
using ILGPU;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>
/// TorchSharp autograd function over <see cref="CorrelationCongruenceRepDistillerLauncher"/>. RepDistiller trains
/// the teacher-side embedding too, so a teacher input that requires grad gets the negated student gradient.
/// </summary>
internal sealed class CorrelationCongruenceRepDistillerFunction
    : RelationalLossFunction<CorrelationCongruenceRepDistillerFunction, RelationalRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.CorrelationCongruenceRepDistiller";

    /// <inheritdoc/>
    protected override void Run(RelationalRequest request, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth) =>
        request.Device.Kernels<CorrelationCongruenceRepDistillerLauncher>().Run(student, teacher, gradient, rowLoss, batch,
            studentWidth);

    /// <inheritdoc/>
    protected override IReadOnlyList<Tensor?> Gradients(Tensor student, Tensor teacher, Tensor gradient) =>
        teacher.requires_grad ? [gradient, gradient.neg()] : [gradient];
}
