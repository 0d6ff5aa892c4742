using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Bad input through the bridge on the host SIMD backend: non-finite logits are found by the backend itself (a NaN
/// row loss) and reported as an ArgumentException naming the tensor, for every row loss.
/// </summary>
public sealed class SimdBadInputTests
{
    public enum Loss { SoftmaxKL, ReverseKL, JensenShannon, DecoupledKD }

    private static Tensor Call(Loss loss, Tensor s, Tensor t)
    {
        ComputeDevice device = TestDevices.Get(AcceleratorKind.Simd);
        Tensor labels = tensor(new long[] { 0, 1, 2, 3 });
        return loss switch
        {
            Loss.SoftmaxKL => GpuDistill.Losses.SoftmaxKL(s, t, 2.0, labels, hardWeight: 0.5, device: device),
            Loss.ReverseKL => GpuDistill.Losses.ReverseKL(s, t, 2.0, device: device),
            Loss.JensenShannon => GpuDistill.Losses.JensenShannon(s, t, 2.0, 0.5, device: device),
            _ => GpuDistill.Losses.DecoupledKD(s, t, labels, 2.0, device: device),
        };
    }

    [Test, Combinatorial]
    public void NonFiniteLogits(
        [Values] Loss loss,
        [Values(float.NaN, float.PositiveInfinity, float.NegativeInfinity)] float bad,
        [Values("student", "teacher")] string argument)
    {
        using var scope = NewDisposeScope();
        Tensor s = randn(4, 13), t = randn(4, 13);
        (argument == "student" ? s : t)[2, 11] = tensor(bad);
        ArgumentAssert.Rejects(() => Call(loss, s, t), argument, "finite");
    }

    [Test]
    public void ShapeMismatch([Values] Loss loss) =>
        ArgumentAssert.Rejects(() => Call(loss, randn(4, 5), randn(4, 6)), "teacher", "shape");
}
