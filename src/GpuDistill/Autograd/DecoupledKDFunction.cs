using GpuDistill.Accelerators;
using GpuDistill.DecoupledKD;
using GpuDistill.SoftmaxKL;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over the fused DKD kernels.</summary>
internal sealed class DecoupledKDFunction : RowLossFunction<DecoupledKDFunction, DecoupledKDParameters>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.DecoupledKD";

    /// <inheritdoc/>
    protected override void Launch(ComputeDevice device, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in DecoupledKDParameters p,
        SoftmaxKLLayout layout) =>
        DecoupledKDLauncher.For(device).Launch(student, teacher, labels, gradient, rowLoss, p, layout);
}
