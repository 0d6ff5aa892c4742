namespace GpuDistill.Perf;

/// <summary>
/// The memory floor of a fused KL pass: read two [B, C] arrays and write one, on every core, with no arithmetic
/// beyond a subtraction. No kernel that must touch those bytes can beat it.
/// </summary>
internal static class StreamingFloor
{
    public static void Run(float[] a, float[] b, float[] result)
    {
        int chunks = Environment.ProcessorCount * 4;
        int chunk = (a.Length + chunks - 1) / chunks;
        Parallel.For(0, chunks, c =>
        {
            int start = c * chunk, end = Math.Min(a.Length, start + chunk);
            if (start >= end) return;
            System.Numerics.Tensors.TensorPrimitives.Subtract(a.AsSpan(start, end - start), b.AsSpan(start, end - start), result.AsSpan(start, end - start));
        });
    }
}
