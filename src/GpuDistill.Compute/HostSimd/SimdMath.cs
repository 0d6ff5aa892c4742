using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GpuDistill.Compute.HostSimd;

/// <summary>
/// Eight-lane float math for the host backend: a fast exp with exact zero underflow, log1p, and loads and stores of a
/// row's last, partial vector. Body and tail of a row go through the same functions, so a value computed for a
/// column is bit-identical wherever it is recomputed (the argmax-centred sums of reverse KL and JSD rely on that).
/// </summary>
internal static unsafe class SimdMath
{
    /// <summary>Lanes per vector.</summary>
    public const int Width = 8;

    /// <summary>Below ln(float.MinNormal) exp is taken as exactly 0 (denormals are below any tolerance here).</summary>
    private const float ExpUnderflow = -87.33654f;

    /// <summary>Above this 2^n would leave the float exponent range (no caller gets there).</summary>
    private const float ExpOverflow = 88.37626f;

    /// <summary>
    /// exp(x) per lane for x &lt;= 88.37 (every caller here passes a log-probability or a shifted logit, &lt;= 0), within
    /// 2 ulp for normal results; exactly 0 below ln(float.MinNormal). NaN is not handled: the row passes reject
    /// non-finite rows before any exp.
    /// </summary>
    /// <remarks>
    /// Cody-Waite reduction x = n ln2 + r with |r| &lt;= ln2 / 2 and a degree-6 polynomial for exp(r), with the hardware's
    /// native min, max and conversion (no NaN or saturation fix-ups). Several times faster than
    /// <see cref="Vector256.Exp(Vector256{float})"/> here (which widens to double), measured on this machine; every
    /// softened-softmax loss spends most of its time in exp.
    /// </remarks>
    /// <param name="x">Arguments.</param>
    /// <returns>exp(x).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> clamped = Vector256.MinNative(Vector256.MaxNative(x, Vector256.Create(ExpUnderflow)), Vector256.Create(ExpOverflow));
        Vector256<float> n = Vector256.Round(clamped * Vector256.Create(1.44269504088896341f));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> poly = Vector256.Create(1.9875691500e-4f);
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(1.3981999507e-3f));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(8.3334519073e-3f));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(4.1665795894e-2f));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(1.6666665459e-1f));
        poly = Vector256.FusedMultiplyAdd(poly, r, Vector256.Create(5.0000001201e-1f));
        poly = Vector256.FusedMultiplyAdd(poly * r, r, r + Vector256<float>.One);
        // n is in [-126, 127]: 2^n goes straight into the exponent field.
        Vector256<float> scale = Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(ExpUnderflow)), Vector256<float>.Zero, poly * scale);
    }

    /// <summary>log(1 + y) per lane for y &gt;= 0, accurate also where y is far below float epsilon.</summary>
    /// <param name="y">Non-negative arguments.</param>
    /// <returns>log(1 + y).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Log1P(Vector256<float> y)
    {
        // Goldberg's correction, as the kernels' LogSpace.Log1P: u = fl(1 + y); log(u) * y / (u - 1) cancels its rounding.
        Vector256<float> u = Vector256<float>.One + y;
        Vector256<float> denominator = u - Vector256<float>.One;
        Vector256<float> exact = Vector256.Equals(denominator, Vector256<float>.Zero);
        Vector256<float> corrected = Vector256.Log(u) * (y / Vector256.ConditionalSelect(exact, Vector256<float>.One, denominator));
        return Vector256.ConditionalSelect(exact, y, corrected);
    }

    /// <summary>softplus(x) = log(1 + exp(x)) and softplus(-x) per lane, sharing one exp and one log1p.</summary>
    /// <param name="x">Arguments.</param>
    /// <param name="ofX">softplus(x).</param>
    /// <param name="ofMinusX">softplus(-x), computed without the cancellation of softplus(x) - x.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Softplus(Vector256<float> x, out Vector256<float> ofX, out Vector256<float> ofMinusX)
    {
        Vector256<float> tail = Log1P(Exp(-Vector256.Abs(x)));
        ofX = Vector256.Max(x, Vector256<float>.Zero) + tail;
        ofMinusX = Vector256.Max(-x, Vector256<float>.Zero) + tail;
    }

    /// <summary>Loads <paramref name="count"/> floats; lanes past them hold <paramref name="pad"/>.</summary>
    /// <param name="source">First element.</param>
    /// <param name="count">1 to <see cref="Width"/>; a constant <see cref="Width"/> compiles to a plain load.</param>
    /// <param name="pad">Value of the missing lanes (chosen so they compute something finite).</param>
    /// <returns>The vector.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* source, int count, float pad)
    {
        if (count == Width) return Vector256.Load(source);
        return LoadPartial(source, count, pad);
    }

    /// <summary>Stores the first <paramref name="count"/> lanes.</summary>
    /// <param name="target">First element.</param>
    /// <param name="value">The vector.</param>
    /// <param name="count">1 to <see cref="Width"/>.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* target, Vector256<float> value, int count)
    {
        if (count == Width) value.Store(target);
        else StorePartial(target, value, count);
    }

    /// <summary>Zeroes the lanes from <paramref name="count"/> on, so padded lanes add nothing to a sum.</summary>
    /// <param name="value">The vector.</param>
    /// <param name="count">1 to <see cref="Width"/>.</param>
    /// <returns>The masked vector.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> KeepFirst(Vector256<float> value, int count)
    {
        if (count == Width) return value;
        return Vector256.ConditionalSelect(FirstLanes(count), value, Vector256<float>.Zero);
    }

    /// <summary>The lane sum in double (the block sums of a row are added in double).</summary>
    /// <param name="value">The vector.</param>
    /// <returns>The sum of its lanes.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double Sum(Vector256<float> value)
    {
        (Vector256<double> low, Vector256<double> high) = Vector256.Widen(value);
        return Vector256.Sum(low + high);
    }

    /// <summary>All-ones in the lanes below <paramref name="count"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> FirstLanes(int count) =>
        Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();

    private static Vector256<float> LoadPartial(float* source, int count, float pad)
    {
        if (Avx.IsSupported)
        {
            // A masked load reads only the lanes asked for, so it never touches memory past the row.
            Vector256<float> mask = FirstLanes(count);
            return Vector256.ConditionalSelect(mask, Avx.MaskLoad(source, mask), Vector256.Create(pad));
        }
        float* lanes = stackalloc float[Width];
        for (int i = 0; i < Width; i++) lanes[i] = i < count ? source[i] : pad;
        return Vector256.Load(lanes);
    }

    private static void StorePartial(float* target, Vector256<float> value, int count)
    {
        if (Avx.IsSupported)
        {
            Avx.MaskStore(target, FirstLanes(count), value);
            return;
        }
        for (int i = 0; i < count; i++) target[i] = value.GetElement(i);
    }
}
