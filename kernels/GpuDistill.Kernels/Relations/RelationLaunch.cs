using ILGPU;
using ILGPU.Runtime;

namespace GpuDistill.Kernels.Relations;

/// <summary>Host-side checks and scratch buffers the relation launchers share.</summary>
internal static class RelationLaunch
{
    /// <summary>Throws unless <paramref name="view"/> holds exactly <paramref name="expected"/> elements.</summary>
    /// <typeparam name="T">Element type.</typeparam>
    /// <param name="view">The view.</param>
    /// <param name="expected">The length it must have.</param>
    /// <param name="name">The argument's name.</param>
    public static void RequireLength<T>(ArrayView<T> view, long expected, string name) where T : unmanaged
    {
        if (view.Length != expected)
            throw new ArgumentException($"{name} has {view.Length} elements; expected {expected}.", name);
    }

    /// <summary>
    /// Checks the views of a student/teacher relation launch: B, Ds and Dt positive; student and gradient [B*Ds],
    /// teacher [B*Dt], per-row loss [B].
    /// </summary>
    public static void RequirePairViews(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        ArrayView<float> rowLoss, int batch, int studentWidth, int teacherWidth)
    {
        RequirePositive(batch, nameof(batch));
        RequirePositive(studentWidth, nameof(studentWidth));
        RequirePositive(teacherWidth, nameof(teacherWidth));
        RequireLength(student, (long)batch * studentWidth, nameof(student));
        RequireLength(teacher, (long)batch * teacherWidth, nameof(teacher));
        RequireLength(gradient, (long)batch * studentWidth, nameof(gradient));
        RequireLength(rowLoss, batch, nameof(rowLoss));
    }

    /// <summary>Throws unless <paramref name="value"/> is positive.</summary>
    /// <param name="value">A dimension.</param>
    /// <param name="name">Its name.</param>
    public static void RequirePositive(int value, string name)
    {
        if (value <= 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }

    /// <summary>a * b as a thread count; throws when it does not fit an int (one thread per entry).</summary>
    /// <param name="a">First factor.</param>
    /// <param name="b">Second factor.</param>
    /// <param name="what">What the product counts, for the message.</param>
    /// <returns>The product.</returns>
    public static int Threads(long a, long b, string what)
    {
        long n = a * b;
        if (n > int.MaxValue)
            throw new ArgumentException($"{what} ({a} x {b}) must be below 2^31: the kernels launch one thread per entry.", what);
        return (int)n;
    }

    /// <summary>Allocates a float scratch buffer of at least one element (ILGPU rejects empty launches).</summary>
    /// <param name="accelerator">The accelerator.</param>
    /// <param name="length">Elements.</param>
    /// <returns>The buffer; the caller disposes it after synchronising.</returns>
    public static MemoryBuffer1D<float, Stride1D.Dense> Scratch(Accelerator accelerator, long length) =>
        accelerator.Allocate1D<float>(Math.Max(1, length));
}
