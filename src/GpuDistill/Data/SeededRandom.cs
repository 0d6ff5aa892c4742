namespace GpuDistill.Data;

/// <summary>
/// SplitMix64: a tiny generator whose sequence is fixed by its seed on every runtime and platform, unlike
/// <see cref="Random"/>, so shuffles, augmentation and the embedded subset can be reproduced anywhere.
/// </summary>
internal sealed class SeededRandom
{
    private ulong state;

    /// <summary>Starts the sequence at <paramref name="seed"/>.</summary>
    public SeededRandom(ulong seed) => state = seed;

    /// <summary>
    /// An independent sequence for one (seed, epoch, stream) triple; streams keep e.g. the shuffle and the
    /// augmentation draws apart, so turning augmentation on does not change the order.
    /// </summary>
    public static SeededRandom For(int seed, int epoch, int stream)
    {
        ulong key = Mix((ulong)(uint)seed) ^ Mix(((ulong)(uint)epoch << 32) | (uint)stream);
        return new SeededRandom(key);
    }

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>A value in [0, <paramref name="exclusiveMax"/>), by multiply-high (bias below 2^-32 for int ranges).</summary>
    public int NextInt(int exclusiveMax) => (int)Math.BigMul(NextUInt64(), (ulong)exclusiveMax, out _);

    /// <summary>A fair coin.</summary>
    public bool NextBool() => (NextUInt64() >> 63) != 0;

    /// <summary>Fisher-Yates shuffle in place.</summary>
    public void Shuffle(Span<int> values)
    {
        for (int i = values.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (values[i], values[j]) = (values[j], values[i]);
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
