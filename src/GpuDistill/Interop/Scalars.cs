using TorchSharp;

namespace GpuDistill.Interop;

/// <summary>
/// Scalars that live as long as the process, for the alpha of add/sub on the training path.
/// </summary>
/// <remarks>
/// TorchSharp's overloads that take a plain number (<c>a.add(b)</c>, <c>a.add_(b)</c>, <c>a + b</c>, <c>a.mul(2.0)</c>)
/// wrap it in a temporary <see cref="Scalar"/> and only read its handle: nothing keeps the wrapper alive during
/// the native call, so a garbage collection started by another thread can run its finalizer and free the native
/// scalar while libtorch still reads it. Measured here: "Expected false to be true" from c10::Scalar::toFloat
/// inside add_ after a few thousand steps whenever another thread allocates (progress reports do). Code on the
/// training path passes these, or a Scalar held by a <c>using</c> variable, never a bare number.
/// </remarks>
internal static class Scalars
{
    /// <summary>1.0, the default alpha of add and sub.</summary>
    public static Scalar One { get; } = 1.0.ToScalar();

    /// <summary>-1.0, the alpha of a subtraction written as <c>a.add(b, MinusOne)</c> (sub has no alpha overload).</summary>
    public static Scalar MinusOne { get; } = (-1.0).ToScalar();

    /// <summary>1 as an integer, for integer tensors (a floating alpha on an integer tensor is an error).</summary>
    public static Scalar OneInteger { get; } = 1L.ToScalar();
}
