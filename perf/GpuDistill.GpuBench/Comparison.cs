using System.Globalization;

namespace GpuDistill.GpuBench;

/// <summary>
/// How far one output of a launch is from its float64 reference: the largest absolute difference and that over the
/// output's scale (the largest reference entry, or a floor where the exact output vanishes).
/// </summary>
/// <param name="MaxAbs">max |actual - reference| (infinite where the output is not finite).</param>
/// <param name="Scale">max(max |reference|, floor).</param>
/// <param name="Bound">The largest relative error allowed.</param>
public sealed record ErrorMeasure(double MaxAbs, double Scale, double Bound)
{
    /// <summary>MaxAbs / Scale.</summary>
    public double Relative => MaxAbs / Scale;

    /// <summary>True when the relative error is within the bound (NaN never is).</summary>
    public bool Passed => Relative <= Bound;

    /// <summary>A scalar against its reference.</summary>
    /// <param name="actual">The launch's value.</param>
    /// <param name="expected">The reference value.</param>
    /// <param name="floor">The least scale measured against (for a value that is a small difference of larger terms).</param>
    /// <param name="bound">The relative bound.</param>
    /// <returns>The measure.</returns>
    public static ErrorMeasure Of(double actual, double expected, double floor, double bound) =>
        new(double.IsFinite(actual) ? Math.Abs(actual - expected) : double.PositiveInfinity,
            Math.Max(Math.Abs(expected), Math.Max(floor, 1e-30)), bound);

    /// <summary>A vector against its reference, in the max norm.</summary>
    /// <param name="actual">The launch's values.</param>
    /// <param name="expected">The reference values.</param>
    /// <param name="floor">The least scale measured against (for a vector whose exact values vanish).</param>
    /// <param name="bound">The relative bound.</param>
    /// <returns>The measure.</returns>
    /// <exception cref="ArgumentException">When the lengths differ.</exception>
    public static ErrorMeasure Of(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double floor, double bound)
    {
        if (actual.Length != expected.Length)
            throw new ArgumentException($"actual has {actual.Length} elements; expected {expected.Length}.", nameof(actual));
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!float.IsFinite(actual[i])) { maxDiff = double.PositiveInfinity; break; }
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return new ErrorMeasure(maxDiff, Math.Max(maxRef, Math.Max(floor, 1e-30)), bound);
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"abs {MaxAbs,7:0.0E+00} rel {Relative,7:0.0E+00}");
}

/// <summary>
/// One launch against its float64 reference: the loss (or, for a map kernel, the map) and the gradient, each within
/// the bound the kernel tests use (tests/GpuDistill.Tests/Generic/Tolerance.cs): relative <see cref="Relative"/>,
/// with floors where the exact value vanishes.
/// </summary>
/// <param name="Output">The loss (or map).</param>
/// <param name="Gradient">The gradient.</param>
/// <param name="OutputName">"loss" or "map".</param>
public sealed record Comparison(ErrorMeasure Output, ErrorMeasure Gradient, string OutputName = "loss")
{
    /// <summary>Relative error allowed between a float32 kernel and its float64 reference.</summary>
    public const double Relative = 2e-5;

    /// <summary>True when both errors are within their bounds (NaN never is).</summary>
    public bool Passed => Output.Passed && Gradient.Passed;

    /// <summary>
    /// A softened-softmax launch: the loss to <see cref="Relative"/> or 1e-6 of the size of its terms, whichever is
    /// larger, and the gradient to <see cref="Relative"/> of its largest entry or of 1e-2 of its natural scale w T / N.
    /// </summary>
    /// <param name="loss">The kernel's loss (row losses summed in float64).</param>
    /// <param name="gradient">The kernel's gradient.</param>
    /// <param name="expectedLoss">The reference loss.</param>
    /// <param name="expectedGradient">The reference gradient.</param>
    /// <param name="lossMagnitude">Size of the terms the loss is computed from (see <see cref="LossMagnitude"/>).</param>
    /// <param name="gradientScale">The factor in front of the per-column gradient terms, e.g. w T / N.</param>
    /// <returns>The errors and bounds.</returns>
    public static Comparison Of(double loss, ReadOnlySpan<float> gradient, double expectedLoss,
        ReadOnlySpan<double> expectedGradient, double lossMagnitude, double gradientScale)
    {
        if (gradient.Length != expectedGradient.Length)
            throw new ArgumentException($"gradient has {gradient.Length} elements; expected {expectedGradient.Length}.", nameof(gradient));
        // Relative x (1e-6 / Relative) x magnitude = 1e-6 of the magnitude: the suite's absolute loss floor.
        return new Comparison(ErrorMeasure.Of(loss, expectedLoss, 1e-6 / Relative * lossMagnitude, Relative),
            // A batch of saturated rows has a true gradient far below float32's resolution of its scale (Tolerance.GradientFloor).
            ErrorMeasure.Of(gradient, expectedGradient, 1e-2 * gradientScale, Relative));
    }

    /// <summary>T^2 (1 + max|z| / T) + 1 + max|z|: the size of the terms of a softened-softmax loss.</summary>
    /// <param name="student">Student logits.</param>
    /// <param name="teacher">Teacher logits.</param>
    /// <param name="temperature">T.</param>
    /// <returns>The magnitude.</returns>
    public static double LossMagnitude(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, double temperature) =>
        temperature * temperature * (1 + MaxAbs(student, teacher) / temperature) + 1 + MaxAbs(student, teacher);

    /// <summary>The largest |value| in either span.</summary>
    /// <param name="a">First values.</param>
    /// <param name="b">Second values.</param>
    /// <returns>The largest magnitude (0 for empty spans).</returns>
    public static double MaxAbs(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double maxAbs = 0;
        foreach (float v in a) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        foreach (float v in b) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        return maxAbs;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{OutputName} {Output}  grad {Gradient}  (bound {Output.Bound:0E+00})  {(Passed ? "PASS" : "FAIL")}");
}
