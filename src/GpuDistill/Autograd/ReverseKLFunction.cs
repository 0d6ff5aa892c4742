using GpuDistill.Accelerators;
using GpuDistill.ReverseKL;
using GpuDistill.SoftmaxKL;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over the fused reverse-KL kernels.</summary>
internal sealed class ReverseKLFunction : RowLossFunction<ReverseKLFunction, ReverseKLParameters>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.ReverseKL";

    /// <inheritdoc/>
    protected override void Launch(ComputeDevice device, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in ReverseKLParameters p,
        SoftmaxKLLayout layout) =>
        ReverseKLLauncher.For(device).Launch(student, teacher, labels, gradient, rowLoss, p, layout);
}
