using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.CorrelationCongruence;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>A torchdistill correlation congruence call: the device and the correlation kernel.</summary>
/// <param name="Device">The accelerator to run on.</param>
/// <param name="Kernel">The correlation kernel.</param>
internal sealed record CorrelationCongruenceKernelRequest(ComputeDevice Device, CorrelationKernelParameters Kernel)
    : RelationalRequest(Device);

/// <summary>TorchSharp autograd function over <see cref="CorrelationCongruenceKernelLauncher"/>.</summary>
internal sealed class CorrelationCongruenceKernelFunction
    : RelationalLossFunction<CorrelationCongruenceKernelFunction, CorrelationCongruenceKernelRequest>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.CorrelationCongruenceKernel";

    /// <inheritdoc/>
    protected override void Run(CorrelationCongruenceKernelRequest request, ArrayView<float> student,
        ArrayView<float> teacher, ArrayView<float> gradient, ArrayView<float> rowLoss, int batch, int studentWidth,
        int teacherWidth) =>
        request.Device.Kernels<CorrelationCongruenceKernelLauncher>().Run(student, teacher, gradient, rowLoss, batch,
            studentWidth, teacherWidth, request.Kernel);
}
