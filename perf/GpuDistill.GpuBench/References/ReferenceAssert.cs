namespace GpuDistill.Tests.References;

/// <summary>
/// The one NUnit call a linked float64 reference makes (FlowMatrixReference checks that it pools whole blocks), so the
/// bundle links the references unchanged without NUnit.
/// </summary>
internal static class Assert
{
    /// <summary>Throws when <paramref name="condition"/> is false.</summary>
    /// <param name="condition">What the reference requires.</param>
    /// <param name="message">What it says when that fails.</param>
    /// <exception cref="InvalidOperationException">When the condition is false.</exception>
    public static void That(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }
}
