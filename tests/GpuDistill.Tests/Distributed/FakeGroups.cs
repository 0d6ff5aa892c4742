using GpuDistill.Distributed;

namespace GpuDistill.Tests.Distributed;

/// <summary>
/// Stands in for <paramref name="size"/> processes that all hold this one's data: a sum is the values times the size,
/// a gather repeats them, and every rank's settings are this one's unless <paramref name="otherSettings"/> is given
/// (what every other rank then sends instead).
/// </summary>
internal sealed class MirroredGroup(int size, int rank = 0, byte[]? otherSettings = null) : IProcessGroup
{
    public int Rank => rank;

    public int Size => size;

    public CollectiveTraffic Traffic { get; } = new();

    public void AllreduceSum(Span<float> values)
    {
        Traffic.Add(values.Length * sizeof(float));
        foreach (ref float v in values) v *= size;
    }

    public void AllreduceSum(Span<double> values)
    {
        Traffic.Add(values.Length * sizeof(double));
        foreach (ref double v in values) v *= size;
    }

    public void Allgather(ReadOnlySpan<float> mine, Span<float> all)
    {
        Traffic.Add(mine.Length * sizeof(float));
        for (int r = 0; r < size; r++) mine.CopyTo(all[(r * mine.Length)..]);
    }

    public byte[][] AllgatherBytes(ReadOnlySpan<byte> mine)
    {
        byte[] own = mine.ToArray();
        return [.. Enumerable.Range(0, size).Select(r => r == rank || otherSettings is null ? own : otherSettings)];
    }

    public byte[] Broadcast(byte[]? bytes, int root) => bytes ?? throw new InvalidOperationException("The mirror has no other rank's bytes.");

    public void Barrier()
    {
    }
}
