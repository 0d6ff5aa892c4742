using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>Bit-for-bit comparison (TorchSharp's <c>Tensor.equal</c> is element-wise).</summary>
public static class TensorEquality
{
    public static bool Identical(Tensor a, Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape) || a.dtype != b.dtype) return false;
        using Tensor same = a.eq(b);
        using Tensor all = same.all();
        return all.item<bool>();
    }
}
