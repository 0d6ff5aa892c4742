using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.GpuBench;

/// <summary>
/// Device-side helpers of the benchmark: filling the inputs on the device (a 2^31-element array cannot come from a
/// .NET array, and the host would need seconds to make one) and the streaming floor with the kernel's access pattern.
/// Both grid-stride with a 64-bit index, so they cover views longer than int.MaxValue.
/// </summary>
public static class BenchKernels
{
    /// <summary>data[i] = <see cref="UniformAt"/>(i, seed, scale).</summary>
    /// <param name="data">The view to fill.</param>
    /// <param name="seed">Stream seed; each array gets its own.</param>
    /// <param name="scale">Values are uniform in [-scale, scale).</param>
    public static void Uniform(ArrayView<float> data, ulong seed, float scale)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < data.Length; i += stride)
            data[i] = UniformAt(i, seed, scale);
    }

    /// <summary>result[i] = a[i] - b[i]: reads two arrays and writes one, with no other work (the memory floor).</summary>
    /// <param name="a">First input.</param>
    /// <param name="b">Second input.</param>
    /// <param name="result">Output, as long as the inputs.</param>
    public static void Subtract(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result)
    {
        long stride = (long)Grid.DimX * Group.DimX;
        for (long i = (long)Grid.IdxX * Group.DimX + Group.IdxX; i < result.Length; i += stride)
            result[i] = a[i] - b[i];
    }

    /// <summary>
    /// A uniform value in [-scale, scale) from the element's index alone (SplitMix64's finaliser over index and seed),
    /// so device and host compute the same inputs.
    /// </summary>
    /// <param name="index">Element index.</param>
    /// <param name="seed">Stream seed.</param>
    /// <param name="scale">Half-width of the range.</param>
    /// <returns>The value.</returns>
    public static float UniformAt(long index, ulong seed, float scale)
    {
        ulong x = (ulong)index + seed * 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        x ^= x >> 31;
        // 24 random bits are exact in float32: unit is in [0, 1) on every device.
        float unit = (int)(x >> 40) * (1f / 16777216f);
        return (2f * unit - 1f) * scale;
    }
}

/// <summary>Launches <see cref="BenchKernels"/> with a grid that fills the device once.</summary>
public sealed class BenchLauncher
{
    private readonly Accelerator accelerator;
    private readonly Action<KernelConfig, ArrayView<float>, ulong, float> uniform;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>> subtract;

    /// <summary>Loads both kernels on <paramref name="accelerator"/> (each compiles here, once).</summary>
    /// <param name="accelerator">The accelerator to launch on.</param>
    public BenchLauncher(Accelerator accelerator)
    {
        ArgumentNullException.ThrowIfNull(accelerator);
        this.accelerator = accelerator;
        uniform = accelerator.LoadStreamKernel<ArrayView<float>, ulong, float>(BenchKernels.Uniform);
        subtract = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>>(BenchKernels.Subtract);
    }

    /// <summary>Enqueues a fill of <paramref name="data"/> with uniform values.</summary>
    /// <param name="data">The view to fill.</param>
    /// <param name="seed">Stream seed.</param>
    /// <param name="scale">Half-width of the range.</param>
    public void Uniform(ArrayView<float> data, ulong seed, float scale) => uniform(Config(data.Length), data, seed, scale);

    /// <summary>Enqueues result = a - b.</summary>
    /// <param name="a">First input.</param>
    /// <param name="b">Second input.</param>
    /// <param name="result">Output.</param>
    public void Subtract(ArrayView<float> a, ArrayView<float> b, ArrayView<float> result)
    {
        if (a.Length != result.Length) throw new ArgumentException($"a has {a.Length} elements; expected {result.Length}.", nameof(a));
        if (b.Length != result.Length) throw new ArgumentException($"b has {b.Length} elements; expected {result.Length}.", nameof(b));
        subtract(Config(result.Length), a, b, result);
    }

    private KernelConfig Config(long elements)
    {
        // Enough resident groups to keep every multiprocessor streaming; the kernels grid-stride over the rest.
        int warp = Math.Max(1, accelerator.WarpSize);
        int groupSize = Math.Max(warp, Math.Min(accelerator.MaxNumThreadsPerGroup, 256) / warp * warp);
        int resident = accelerator.NumMultiprocessors * Math.Max(1, accelerator.MaxNumThreadsPerMultiprocessor / groupSize);
        long needed = (elements + groupSize - 1) / groupSize;
        int groups = (int)Math.Max(1, Math.Min(needed, 4L * resident));
        return new KernelConfig(groups, groupSize);
    }
}
