using System.Runtime.InteropServices;

namespace GpuDistill.Distributed;

/// <summary>
/// The processes started together by Open MPI's <c>mpirun</c> (MPI_COMM_WORLD), through Open MPI's C library,
/// libmpi.so.40 (Debian: <c>apt-get install -y openmpi-bin libopenmpi-dev</c>).
/// </summary>
/// <remarks>
/// A binding of its own, of the ten MPI calls a data-parallel run needs, because the MPI.NET package (1.4.0) is built
/// against Microsoft MPI's ABI (integer handles, msmpi.dll) and cannot call Open MPI, whose handles are the addresses
/// of exported objects (ompi_mpi_comm_world, ompi_mpi_float, ...). Those addresses are looked up here by name.
/// Started outside mpirun, MPI makes a group of one.
/// </remarks>
public sealed unsafe class OpenMpiGroup : IProcessGroup
{
    /// <summary>The library's file name (Open MPI 4 and 5).</summary>
    public const string LibraryName = "libmpi.so.40";

    private static readonly Lock StartLock = new();
    private static OpenMpiGroup? world;

    private readonly Api api;
    private bool finished;

    private OpenMpiGroup(Api api)
    {
        this.api = api;
        int rank, size;
        Check(api.CommRank(api.World, &rank), "MPI_Comm_rank");
        Check(api.CommSize(api.World, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public CollectiveTraffic Traffic { get; } = new();

    /// <summary>Starts MPI in this process (once; later calls return the same group) and returns MPI_COMM_WORLD.</summary>
    /// <returns>The group of every process mpirun started.</returns>
    /// <exception cref="FileNotFoundException">Open MPI is not installed.</exception>
    public static OpenMpiGroup Join()
    {
        lock (StartLock)
        {
            if (world is not null) return world;
            Api api = Api.Load();
            int initialised;
            Check(api.Initialized(&initialised), "MPI_Initialized");
            if (initialised == 0) Check(api.Init(0, 0), "MPI_Init");
            // Failures come back as return codes (turned into exceptions here) rather than aborting inside the call.
            Check(api.CommSetErrhandler(api.World, api.ErrorsReturn), "MPI_Comm_set_errhandler");
            world = new OpenMpiGroup(api);
            return world;
        }
    }

    /// <summary>Ends MPI in this process (MPI_Finalize) after a run that finished; every process calls it.</summary>
    /// <remarks>A process that failed should exit without it: mpirun then stops the others.</remarks>
    public void Finish()
    {
        if (finished) return;
        finished = true;
        Check(api.Finalize(), "MPI_Finalize");
    }

    /// <summary>Stops every process of the group at once (MPI_Abort), e.g. after this one failed alone.</summary>
    /// <param name="exitCode">The exit code mpirun returns.</param>
    public void Abort(int exitCode) => api.Abort(api.World, exitCode);

    /// <inheritdoc/>
    public void AllreduceSum(Span<float> values)
    {
        Traffic.Add((long)values.Length * sizeof(float));
        fixed (float* p = values)
            Check(api.Allreduce(InPlace, p, Count(values.Length), api.Float, api.Sum, api.World), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public void AllreduceSum(Span<double> values)
    {
        Traffic.Add((long)values.Length * sizeof(double));
        fixed (double* p = values)
            Check(api.Allreduce(InPlace, p, Count(values.Length), api.Double, api.Sum, api.World), "MPI_Allreduce");
    }

    /// <inheritdoc/>
    public void Allgather(ReadOnlySpan<float> mine, Span<float> all)
    {
        if (all.Length != (long)mine.Length * Size)
            throw new ArgumentException($"Expected {Size} x {mine.Length} values; got {all.Length}.", nameof(all));
        Traffic.Add((long)mine.Length * sizeof(float));
        fixed (float* send = mine)
        fixed (float* receive = all)
            Check(api.Allgather(send, Count(mine.Length), api.Float, receive, Count(mine.Length), api.Float, api.World), "MPI_Allgather");
    }

    /// <inheritdoc/>
    public byte[][] AllgatherBytes(ReadOnlySpan<byte> mine)
    {
        // Lengths first (each rank fills its slot of a sum), then every part padded to the longest (settings,
        // records: small).
        double[] lengths = new double[Size];
        lengths[Rank] = mine.Length;
        AllreduceSum(lengths);
        int longest = (int)lengths.Max();
        byte[] padded = new byte[longest];
        mine.CopyTo(padded);
        byte[] all = new byte[(long)longest * Size];
        Traffic.Add(longest);
        fixed (byte* send = padded)
        fixed (byte* receive = all)
            Check(api.Allgather(send, longest, api.Byte, receive, longest, api.Byte, api.World), "MPI_Allgather");
        return [.. Enumerable.Range(0, Size).Select(r => all.AsSpan(r * longest, (int)lengths[r]).ToArray())];
    }

    /// <inheritdoc/>
    public byte[] Broadcast(byte[]? bytes, int root)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(root);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(root, Size);
        if (Rank == root) ArgumentNullException.ThrowIfNull(bytes);
        long length = Rank == root ? bytes!.Length : 0;
        Check(api.Bcast(&length, 1, api.Long, root, api.World), "MPI_Bcast");
        byte[] data = Rank == root ? bytes! : new byte[length];
        if (Rank == root) Traffic.Add(length);
        fixed (byte* p = data)
            Check(api.Bcast(p, Count(length), api.Byte, root, api.World), "MPI_Bcast");
        return data;
    }

    /// <inheritdoc/>
    public void Barrier()
    {
        Traffic.Add(0);
        Check(api.Barrier(api.World), "MPI_Barrier");
    }

    /// <summary>MPI_IN_PLACE in Open MPI.</summary>
    private static void* InPlace => (void*)1;

    private static int Count(long count) => count <= int.MaxValue
        ? (int)count
        : throw new ArgumentOutOfRangeException(nameof(count), count, "One MPI call moves at most 2^31 - 1 elements.");

    private static void Check(int code, string call)
    {
        if (code != 0)
            throw new IOException($"{call} failed (MPI error {code}): another process of the run has probably stopped; its message says why.");
    }

    /// <summary>The MPI calls and the handles of the objects they take, resolved by name.</summary>
    private sealed class Api
    {
        public delegate* unmanaged<int*, int> Initialized;
        public delegate* unmanaged<nint, nint, int> Init;
        public delegate* unmanaged<int> Finalize;
        public delegate* unmanaged<nint, int, int> Abort;
        public delegate* unmanaged<nint, int*, int> CommRank;
        public delegate* unmanaged<nint, int*, int> CommSize;
        public delegate* unmanaged<nint, nint, int> CommSetErrhandler;
        public delegate* unmanaged<void*, void*, int, nint, nint, nint, int> Allreduce;
        public delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int> Allgather;
        public delegate* unmanaged<void*, int, nint, int, nint, int> Bcast;
        public delegate* unmanaged<nint, int> Barrier;
        public nint World, Float, Double, Long, Byte, Sum, ErrorsReturn;

        public static Api Load()
        {
            if (!NativeLibrary.TryLoad(LibraryName, out nint library))
            {
                throw new FileNotFoundException(
                    $"Open MPI's {LibraryName} was not found: distributed training needs Open MPI (apt-get install -y openmpi-bin libopenmpi-dev) and runs under mpirun.",
                    LibraryName);
            }
            nint Get(string name) => NativeLibrary.GetExport(library, name);
            return new Api
            {
                Initialized = (delegate* unmanaged<int*, int>)Get("MPI_Initialized"),
                Init = (delegate* unmanaged<nint, nint, int>)Get("MPI_Init"),
                Finalize = (delegate* unmanaged<int>)Get("MPI_Finalize"),
                Abort = (delegate* unmanaged<nint, int, int>)Get("MPI_Abort"),
                CommRank = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_rank"),
                CommSize = (delegate* unmanaged<nint, int*, int>)Get("MPI_Comm_size"),
                CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Get("MPI_Comm_set_errhandler"),
                Allreduce = (delegate* unmanaged<void*, void*, int, nint, nint, nint, int>)Get("MPI_Allreduce"),
                Allgather = (delegate* unmanaged<void*, int, nint, void*, int, nint, nint, int>)Get("MPI_Allgather"),
                Bcast = (delegate* unmanaged<void*, int, nint, int, nint, int>)Get("MPI_Bcast"),
                Barrier = (delegate* unmanaged<nint, int>)Get("MPI_Barrier"),
                World = Get("ompi_mpi_comm_world"),
                Float = Get("ompi_mpi_float"),
                Double = Get("ompi_mpi_double"),
                Long = Get("ompi_mpi_int64_t"),
                Byte = Get("ompi_mpi_byte"),
                Sum = Get("ompi_mpi_op_sum"),
                ErrorsReturn = Get("ompi_mpi_errors_return"),
            };
        }
    }
}
