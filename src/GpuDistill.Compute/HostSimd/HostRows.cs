using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>The memory of one host row-loss call, as raw pointers (pinned or native for the length of the call).</summary>
internal readonly unsafe struct HostRowBatch
{
    /// <summary>Creates the batch.</summary>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B], or null.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="classes">C.</param>
    public HostRowBatch(float* student, float* teacher, int* labels, float* gradient, float* rowLoss, int rows, int classes)
    {
        Student = student;
        Teacher = teacher;
        Labels = labels;
        Gradient = gradient;
        RowLoss = rowLoss;
        Rows = rows;
        Classes = classes;
    }

    /// <summary>Student logits.</summary>
    public float* Student { get; }

    /// <summary>Teacher logits.</summary>
    public float* Teacher { get; }

    /// <summary>Labels, or null.</summary>
    public int* Labels { get; }

    /// <summary>Output gradient.</summary>
    public float* Gradient { get; }

    /// <summary>Output per-row loss.</summary>
    public float* RowLoss { get; }

    /// <summary>B.</summary>
    public int Rows { get; }

    /// <summary>C.</summary>
    public int Classes { get; }
}

/// <summary>One loss's work on one row of a <see cref="HostRowBatch"/>.</summary>
internal unsafe interface IHostRowLoss
{
    /// <summary>Writes the row's loss and gradient.</summary>
    /// <param name="batch">The call's memory.</param>
    /// <param name="row">The row.</param>
    /// <param name="scratch">C floats this thread may use for the row.</param>
    void Row(in HostRowBatch batch, int row, float* scratch);
}

/// <summary>
/// The host implementation of the fused row loss <typeparamref name="TLoss"/>: the bridge picks it by type
/// (<see cref="HostSimdRowLoss.Run{THost, TLoss}"/>), so a loss with a host path names it once, where it is called.
/// </summary>
/// <typeparam name="TSelf">The implementing struct.</typeparam>
/// <typeparam name="TLoss">The row loss (its launch scalars) it computes.</typeparam>
internal interface IHostRowLoss<TSelf, TLoss> : IHostRowLoss
    where TSelf : struct, IHostRowLoss<TSelf, TLoss>
    where TLoss : unmanaged, IRowLoss
{
    /// <summary>The host pass for one call with these launch scalars.</summary>
    /// <param name="loss">The launch scalars.</param>
    /// <returns>The pass.</returns>
    static abstract TSelf For(in TLoss loss);

    /// <summary>False for <see cref="NoHostPath{TLoss}"/>: the loss then runs on ILGPU's CPU accelerator on a
    /// <see cref="AcceleratorKind.Simd"/> device.</summary>
    static virtual bool Exists => true;
}

/// <summary>Stands for the host implementation of a row loss that has none (a user's own row loss, for one).</summary>
/// <typeparam name="TLoss">The row loss.</typeparam>
internal readonly unsafe struct NoHostPath<TLoss> : IHostRowLoss<NoHostPath<TLoss>, TLoss> where TLoss : unmanaged, IRowLoss
{
    /// <inheritdoc/>
    public static bool Exists => false;

    /// <inheritdoc/>
    public static NoHostPath<TLoss> For(in TLoss loss) =>
        throw new NotSupportedException($"{typeof(TLoss).Name} has no host implementation.");

    /// <inheritdoc/>
    public void Row(in HostRowBatch batch, int row, float* scratch) =>
        throw new NotSupportedException($"{typeof(TLoss).Name} has no host implementation.");
}

/// <summary>One vector's share of a row sum (see <see cref="HostRows.Sum{TTerm}"/>).</summary>
internal interface IHostColumnTerm
{
    /// <summary>The term of columns [c, c + n), and whatever the pass writes for them.</summary>
    /// <param name="c">First column.</param>
    /// <param name="n">Columns, 1 to <see cref="SimdMath.Width"/>; the lanes from n on are dropped by the caller.</param>
    /// <returns>The term per lane.</returns>
    Vector256<float> At(int c, int n);
}

/// <summary>
/// Runs a host row loss over every row: on the calling thread for small batches, else in parallel over blocks of
/// rows, each thread with its own scratch row. Also holds the row passes every host loss shares.
/// </summary>
internal static unsafe class HostRows
{
    /// <summary>Below this many elements a batch runs on the calling thread (a parallel loop costs more than it saves).</summary>
    public const long ParallelThreshold = 1 << 15;

    /// <summary>Columns summed in float before the block's sum is added to the row's double total.</summary>
    /// <remarks>128 vectors: each lane adds at most 128 terms in float, so long rows keep ~1e-7 relative sums.</remarks>
    public const int BlockLength = 1024;

    [ThreadStatic]
    private static float[]? scratchRow;

    /// <summary>
    /// Threads a call may use: GPUDISTILL_THREADS when set to a positive integer (the project's way of sharing a
    /// machine), otherwise every core.
    /// </summary>
    public static int MaxThreads { get; } = ReadThreads();

    /// <summary>Computes every row of <paramref name="batch"/>.</summary>
    /// <typeparam name="TLoss">The loss (a struct, so its row function is compiled into the loop).</typeparam>
    /// <param name="batch">The call's memory.</param>
    /// <param name="loss">The loss and its scalars.</param>
    public static void Run<TLoss>(HostRowBatch batch, TLoss loss) where TLoss : struct, IHostRowLoss
    {
        long elements = (long)batch.Rows * batch.Classes;
        int threads = MaxThreads;
        if (elements < ParallelThreshold || threads == 1 || batch.Rows == 1)
        {
            RunRows(batch, loss, 0, batch.Rows);
            return;
        }

        // A few blocks per thread, so a core slowed by other work on a shared machine does not hold up the call.
        int blocks = Math.Min(batch.Rows, threads * 4);
        int rowsPerBlock = (batch.Rows + blocks - 1) / blocks;
        blocks = (batch.Rows + rowsPerBlock - 1) / rowsPerBlock;
        Parallel.For(0, blocks, new ParallelOptions { MaxDegreeOfParallelism = threads }, block =>
        {
            int start = block * rowsPerBlock;
            RunRows(batch, loss, start, Math.Min(batch.Rows, start + rowsPerBlock));
        });
    }

    /// <summary>
    /// One pass over columns [0, count), eight at a time: the sum of the terms, added in float within blocks of
    /// <see cref="BlockLength"/> columns and in double across them.
    /// </summary>
    /// <typeparam name="TTerm">The pass (a struct, so its term is compiled into the loop).</typeparam>
    /// <param name="term">The pass and its scalars.</param>
    /// <param name="count">Columns (may be 0).</param>
    /// <returns>The sum.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum<TTerm>(TTerm term, int count) where TTerm : struct, IHostColumnTerm
    {
        double total = 0;
        for (int block = 0; block < count; block += BlockLength)
        {
            int blockEnd = Math.Min(count, block + BlockLength);
            Vector256<float> acc = Vector256<float>.Zero;
            for (int c = block; c < blockEnd; c += SimdMath.Width)
            {
                int n = Math.Min(SimdMath.Width, blockEnd - c);
                acc += SimdMath.KeepFirst(term.At(c, n), n);
            }
            total += SimdMath.Sum(acc);
        }
        return total;
    }

    /// <summary>
    /// log(a / b) of two positive sums whose difference a - b was also summed column by column: where they are close,
    /// as log(1 + d / b), so the float32 rounding of the sums (which log a - log b keeps in full, 1e-7 of each) scales
    /// a and b alike and drops out; elsewhere log a - log b, which is then far larger than that rounding.
    /// </summary>
    /// <param name="a">The first sum.</param>
    /// <param name="b">The second sum.</param>
    /// <param name="difference">a - b, summed from the per-column differences.</param>
    /// <returns>log(a / b).</returns>
    public static double LogRatio(double a, double b, double difference) =>
        Math.Abs(difference) <= 0.5 * b ? Math.Log(1 + difference / b) : Math.Log(a) - Math.Log(b);

    /// <summary>Sets a row's gradient to 0 (padding rows).</summary>
    /// <param name="gradient">The row's gradient.</param>
    /// <param name="classes">C.</param>
    public static void Clear(float* gradient, int classes) => new Span<float>(gradient, classes).Clear();

    /// <summary>
    /// The row maxima of student and teacher in one read, and whether every value of both is finite (a row holding
    /// NaN or infinity gets a NaN loss, which the bridge turns into an ArgumentException naming the tensor).
    /// </summary>
    /// <param name="student">The row's student logits.</param>
    /// <param name="teacher">The row's teacher logits.</param>
    /// <param name="classes">C.</param>
    /// <param name="maxStudent">Row max of the student logits.</param>
    /// <param name="maxTeacher">Row max of the teacher logits.</param>
    /// <returns>True when both rows are finite.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static bool MaxPair(float* student, float* teacher, int classes, out float maxStudent, out float maxTeacher)
    {
        Vector256<float> ms = Vector256.Create(float.NegativeInfinity), mt = ms;
        // x * 0 is 0 for finite x and NaN for NaN or infinity, so the sum stays 0 exactly when all are finite.
        Vector256<float> check = Vector256<float>.Zero;
        int c = 0;
        for (; c <= classes - SimdMath.Width; c += SimdMath.Width)
        {
            Vector256<float> s = Vector256.Load(student + c);
            Vector256<float> t = Vector256.Load(teacher + c);
            ms = Vector256.MaxNative(ms, s);
            mt = Vector256.MaxNative(mt, t);
            check += s * Vector256<float>.Zero + t * Vector256<float>.Zero;
        }
        float maxS = HorizontalMax(ms), maxT = HorizontalMax(mt), sum = Vector256.Sum(check);
        for (; c < classes; c++)
        {
            maxS = Math.Max(maxS, student[c]);
            maxT = Math.Max(maxT, teacher[c]);
            sum += student[c] * 0f + teacher[c] * 0f;
        }
        maxStudent = maxS;
        maxTeacher = maxT;
        return sum == 0f;
    }

    /// <summary>The first column holding the row's largest value (whose value is <paramref name="max"/>).</summary>
    /// <param name="values">The row.</param>
    /// <param name="classes">C.</param>
    /// <param name="max">The row max.</param>
    /// <returns>The column.</returns>
    public static int FirstIndexOf(float* values, int classes, float max) =>
        new ReadOnlySpan<float>(values, classes).IndexOf(max);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float HorizontalMax(Vector256<float> value)
    {
        Vector128<float> m = Vector128.Max(value.GetLower(), value.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunRows<TLoss>(HostRowBatch batch, TLoss loss, int start, int end) where TLoss : struct, IHostRowLoss
    {
        float[] scratch = scratchRow is { } cached && cached.Length >= batch.Classes ? cached : (scratchRow = new float[batch.Classes]);
        fixed (float* s = scratch)
        {
            for (int row = start; row < end; row++) loss.Row(batch, row, s);
        }
    }

    private static int ReadThreads()
    {
        string? value = Environment.GetEnvironmentVariable("GPUDISTILL_THREADS");
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0
            ? Math.Min(n, Environment.ProcessorCount)
            : Environment.ProcessorCount;
    }
}
