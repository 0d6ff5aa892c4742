namespace GpuDistill.Distributed;

/// <summary>
/// The processes one distributed run spreads over (an MPI communicator): each has a rank, and all of them call the
/// same collective operations in the same order. Every call blocks until every process has made it.
/// </summary>
public interface IProcessGroup
{
    /// <summary>This process's number, 0 to <see cref="Size"/> - 1; rank 0 writes the run's files.</summary>
    int Rank { get; }

    /// <summary>The number of processes.</summary>
    int Size { get; }

    /// <summary>What this process has handed to collective operations so far.</summary>
    CollectiveTraffic Traffic { get; }

    /// <summary>Replaces <paramref name="values"/>, in place, by their element-wise sum over every process.</summary>
    /// <param name="values">This process's values; every process passes as many.</param>
    void AllreduceSum(Span<float> values);

    /// <summary>Replaces <paramref name="values"/>, in place, by their element-wise sum over every process.</summary>
    /// <param name="values">This process's values; every process passes as many.</param>
    void AllreduceSum(Span<double> values);

    /// <summary>Gathers every process's <paramref name="mine"/> into <paramref name="all"/>, rank 0's first.</summary>
    /// <param name="mine">This process's values; every process passes as many.</param>
    /// <param name="all">Receives Size x mine.Length values.</param>
    void Allgather(ReadOnlySpan<float> mine, Span<float> all);

    /// <summary>Gathers every process's bytes (any length each), in rank order.</summary>
    /// <param name="mine">This process's bytes.</param>
    /// <returns>One array per rank.</returns>
    byte[][] AllgatherBytes(ReadOnlySpan<byte> mine);

    /// <summary>Sends <paramref name="root"/>'s bytes to every process.</summary>
    /// <param name="bytes">The root's bytes; ignored elsewhere.</param>
    /// <param name="root">The sending rank.</param>
    /// <returns>The root's bytes, on every process.</returns>
    byte[] Broadcast(byte[]? bytes, int root);

    /// <summary>Waits until every process has called it.</summary>
    void Barrier();
}

/// <summary>Counts of the collective operations a process has called and the bytes it passed to them.</summary>
public sealed class CollectiveTraffic
{
    private long calls;
    private long bytes;

    /// <summary>Collective operations called.</summary>
    public long Calls => Interlocked.Read(ref calls);

    /// <summary>Bytes of this process's own data handed to them (an allreduce of n floats counts 4n; an allgather
    /// counts this process's part). What goes over the wire depends on the algorithm: see docs/scale.md.</summary>
    public long PayloadBytes => Interlocked.Read(ref bytes);

    /// <summary>Counts one call.</summary>
    /// <param name="payloadBytes">This process's bytes in it.</param>
    public void Add(long payloadBytes)
    {
        Interlocked.Increment(ref calls);
        Interlocked.Add(ref bytes, payloadBytes);
    }
}
