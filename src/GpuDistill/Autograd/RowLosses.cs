using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace GpuDistill.Autograd;

/// <summary>Reduces the per-row losses a kernel wrote into the batch loss.</summary>
internal static class RowLosses
{
    /// <summary>Sums a float32 vector in double, so long batches add no rounding of their own.</summary>
    public static double Sum(Tensor rowLoss)
    {
        ReadOnlySpan<float> values = MemoryMarshal.Cast<byte, float>(rowLoss.bytes);
        double sum = 0;
        foreach (float v in values) sum += v;
        return sum;
    }
}
