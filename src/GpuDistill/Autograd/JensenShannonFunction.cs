using GpuDistill.Accelerators;
using GpuDistill.JensenShannon;
using GpuDistill.SoftmaxKL;
using ILGPU;

namespace GpuDistill.Autograd;

/// <summary>TorchSharp autograd function over the fused generalised-JSD kernels.</summary>
internal sealed class JensenShannonFunction : RowLossFunction<JensenShannonFunction, JensenShannonParameters>
{
    /// <inheritdoc/>
    public override string Name => "GpuDistill.JensenShannon";

    /// <inheritdoc/>
    protected override void Launch(ComputeDevice device, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in JensenShannonParameters p,
        SoftmaxKLLayout layout) =>
        JensenShannonLauncher.For(device).Launch(student, teacher, labels, gradient, rowLoss, p, layout);
}
