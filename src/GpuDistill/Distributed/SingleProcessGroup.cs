namespace GpuDistill.Distributed;

/// <summary>A group of one process: every collective leaves the data as it is. What a run without MPI amounts to.</summary>
public sealed class SingleProcessGroup : IProcessGroup
{
    /// <inheritdoc/>
    public int Rank => 0;

    /// <inheritdoc/>
    public int Size => 1;

    /// <inheritdoc/>
    public CollectiveTraffic Traffic { get; } = new();

    /// <inheritdoc/>
    public void AllreduceSum(Span<float> values) => Traffic.Add(values.Length * sizeof(float));

    /// <inheritdoc/>
    public void AllreduceSum(Span<double> values) => Traffic.Add(values.Length * sizeof(double));

    /// <inheritdoc/>
    public void Allgather(ReadOnlySpan<float> mine, Span<float> all)
    {
        if (all.Length != mine.Length) throw new ArgumentException($"Expected {mine.Length} values; got {all.Length}.", nameof(all));
        Traffic.Add(mine.Length * sizeof(float));
        mine.CopyTo(all);
    }

    /// <inheritdoc/>
    public byte[][] AllgatherBytes(ReadOnlySpan<byte> mine)
    {
        Traffic.Add(mine.Length);
        return [mine.ToArray()];
    }

    /// <inheritdoc/>
    public byte[] Broadcast(byte[]? bytes, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(root, 0);
        ArgumentNullException.ThrowIfNull(bytes);
        return bytes;
    }

    /// <inheritdoc/>
    public void Barrier()
    {
    }
}
