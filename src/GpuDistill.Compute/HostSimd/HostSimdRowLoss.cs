using GpuDistill.Kernels.Rows;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// The vectorised host backend of the fused row losses (softened-softmax KL with labels and cross-entropy, reverse
/// KL, JSD, DKD): the same parameter structs, results and rules as the ILGPU row kernels, computed eight columns at a
/// time with <see cref="System.Runtime.Intrinsics.Vector256"/> on the host's threads, straight on the caller's memory.
/// </summary>
/// <remarks>
/// <para>
/// Why a backend of its own: ILGPU's CPU accelerator simulates warps and groups with host threads, runs the kernels'
/// scalar code (ILGPU 1.5.3 has no vectorising CPU backend) and pays a fixed cost per launch; a group per row spends
/// its time in simulated barriers (0.4 s per call at 256 x 10). Measured on this project's 2-core machine
/// (docs/perf, kernel alone on arrays, fused KL at T = 4): its best layout took 0.57 ms at 256 x 10, 154 ms at
/// 4096 x 1000 and 281 ms at 256 x 32000, 20 to 50 times the memory floor; this backend took 0.021, 12 and 39 ms. The
/// ILGPU kernels stay the one definition for GPUs; this backend is tested against the same float64 references.
/// </para>
/// <para>
/// The row passes are compiled fully optimised on first use (AggressiveOptimization): tiered compilation would run
/// the first calls' vector code unoptimised (a 256 x 10 call took about twice as long, measured).
/// </para>
/// <para>
/// A <see cref="ComputeDevice"/> of kind <see cref="AcceleratorKind.Simd"/> routes the row
/// losses here and every other kernel to ILGPU's CPU accelerator.
/// </para>
/// </remarks>
internal static class HostSimdRowLoss
{
    /// <summary>Computes every row's loss and the gradient, on the calling thread or in parallel over rows.</summary>
    /// <typeparam name="THost">The loss's host implementation.</typeparam>
    /// <typeparam name="TLoss">The row loss (its launch scalars).</typeparam>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels, [B], or empty when <paramref name="p"/> has none.</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B]; the batch loss is their sum.</param>
    /// <param name="p">Launch scalars.</param>
    /// <exception cref="ArgumentException">When a length does not match B and C.</exception>
    internal static unsafe void Run<THost, TLoss>(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher,
        ReadOnlySpan<int> labels, Span<float> gradient, Span<float> rowLoss, in TLoss p)
        where THost : struct, IHostRowLoss<THost, TLoss>
        where TLoss : unmanaged, IRowLoss
    {
        if (p.Rows <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Rows, "rows (B) must be positive.");
        if (p.Classes <= 0) throw new ArgumentOutOfRangeException(nameof(p), p.Classes, "classes (C) must be positive.");
        long elements = (long)p.Rows * p.Classes;
        RequireLength(student.Length, elements, nameof(student));
        RequireLength(teacher.Length, elements, nameof(teacher));
        RequireLength(gradient.Length, elements, nameof(gradient));
        RequireLength(rowLoss.Length, p.Rows, nameof(rowLoss));
        if (p.HasLabels != 0) RequireLength(labels.Length, p.Rows, nameof(labels));

        fixed (float* s = student)
        fixed (float* t = teacher)
        fixed (int* l = labels)
        fixed (float* g = gradient)
        fixed (float* r = rowLoss)
        {
            HostRows.Run(new HostRowBatch(s, t, p.HasLabels != 0 ? l : null, g, r, p.Rows, p.Classes), THost.For(p));
        }
    }

    /// <summary>Throws an ArgumentException naming <paramref name="name"/> when a span's length is not the expected one.</summary>
    /// <param name="length">The span's length.</param>
    /// <param name="expected">The length the shapes ask for.</param>
    /// <param name="name">The argument.</param>
    internal static void RequireLength(long length, long expected, string name)
    {
        if (length != expected)
            throw new ArgumentException($"{name} has {length} elements; expected {expected}.", name);
    }
}
