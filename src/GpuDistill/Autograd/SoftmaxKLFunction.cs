using GpuDistill.Accelerators;
using GpuDistill.SoftmaxKL;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over <see cref="SoftmaxKLLauncher"/>.</summary>
internal sealed class SoftmaxKLFunction : RowLossFunction<SoftmaxKLFunction, SoftmaxKLParameters>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.SoftmaxKL";

    /// <inheritdoc/>
    protected override void Launch(ComputeDevice device, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in SoftmaxKLParameters p,
        SoftmaxKLLayout layout) =>
        SoftmaxKLLauncher.For(device).Launch(student, teacher, labels, gradient, rowLoss, p, layout);
}
