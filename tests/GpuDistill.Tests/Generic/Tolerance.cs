using static TorchSharp.torch;

namespace GpuDistill.Tests.Generic;

/// <summary>Comparisons against float64 references.</summary>
public static class Tolerance
{
    /// <summary>Relative error of float32 kernel results against a float64 reference.</summary>
    public const double Kernel = 2e-5;

    /// <summary>The largest |actual - expected| over two tensors of one shape, and the largest |expected| to weigh it
    /// against, both in float64.</summary>
    public static (double Error, double Scale) MaxError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        Tensor exact = expected.to_type(ScalarType.Float64);
        return (actual.to_type(ScalarType.Float64).sub(exact).abs().max().item<double>(), exact.abs().max().item<double>());
    }

    /// <summary>|actual - expected| / max(|expected|, floor).</summary>
    public static double RelativeError(double actual, double expected, double floor = 1e-6) =>
        Math.Abs(actual - expected) / Math.Max(Math.Abs(expected), floor);

    /// <summary>
    /// Loss comparison. A KL loss is a difference of log-sum-exps whose size is set by the logits; when it is tiny
    /// (teacher and student agree) float32 can only resolve it to about 1e-7 of that size, so the bound is relative
    /// error <see cref="Kernel"/> or an absolute 1e-6 of <paramref name="magnitude"/>, whichever is larger.
    /// </summary>
    /// <param name="magnitude">Size of the terms the loss is computed from, e.g. T^2 (1 + max|z| / T).</param>
    /// <param name="relative">The relative bound (<see cref="Kernel"/> against a float64 reference).</param>
    public static void AssertLoss(double actual, double expected, double magnitude, double relative = Kernel) =>
        Assert.That(Math.Abs(actual - expected), Is.LessThanOrEqualTo(LossBound(expected, magnitude, relative)),
            $"loss {actual:R} vs reference {expected:R}");

    /// <summary>The absolute bound <see cref="AssertLoss"/> applies.</summary>
    /// <param name="expected">The reference loss.</param>
    /// <param name="magnitude">Size of the terms the loss is computed from.</param>
    /// <param name="relative">The relative bound.</param>
    public static double LossBound(double expected, double magnitude, double relative = Kernel) =>
        Math.Max(relative * Math.Abs(expected), 1e-6 * magnitude);

    /// <summary>The magnitude of the terms of a softened-softmax loss: T^2 (1 + max|z| / T) + (1 + max|z|).</summary>
    public static double SoftmaxLossMagnitude(float[] student, float[] teacher, double temperature)
    {
        double maxAbs = Math.Max(student.Max(Math.Abs), teacher.Max(Math.Abs));
        return temperature * temperature * (1 + maxAbs / temperature) + 1 + maxAbs;
    }

    /// <summary>
    /// The magnitude of the terms of a softened-softmax divergence without a hard term: T^2 (1 + max|z| / T) times
    /// the loss's weight. Its log-ratios are of size max|z| / T, and float32 resolves them to ~1e-7 of that.
    /// </summary>
    public static double SoftLossMagnitude(float[] student, float[] teacher, double temperature, double weight = 1)
    {
        double maxAbs = Math.Max(student.Max(Math.Abs), teacher.Max(Math.Abs));
        return weight * temperature * temperature * (1 + maxAbs / temperature);
    }

    /// <summary>
    /// The smallest gradient scale <see cref="RelativeMaxError"/> measures against, for a loss whose gradient entries
    /// are <paramref name="naturalScale"/> (e.g. w T / N) times a difference of probabilities or a probability times
    /// a log-ratio. Float32 resolves probabilities to ~6e-8 absolute (one ulp below 1), and the float64 reference
    /// carries noise of ~1e-12 of the scale at logits of 1e4, so a batch whose rows are all saturated (one-hot to
    /// float precision, true gradient ~1e-10 of the scale or below) cannot be held to 2e-5 of its own tiny maximum.
    /// Measuring against 1e-2 of the natural scale instead allows ~2e-7 of it in absolute error: just above float32's
    /// resolution, and far below any error a wrong formula makes.
    /// </summary>
    /// <param name="naturalScale">The factor in front of the per-column terms, e.g. w T / N.</param>
    public static double GradientFloor(double naturalScale) => 1e-2 * naturalScale;

    /// <summary>
    /// max_i |a_i - e_i| / max(max_i |e_i|, floor): the error of a vector relative to its own scale, or to
    /// <paramref name="floor"/> when the vector is smaller (see <see cref="GradientFloor"/>).
    /// </summary>
    public static double RelativeMaxError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double floor = 1e-30)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), "lengths differ");
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            if (!double.IsFinite(actual[i])) return double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expected[i]));
        }
        return maxDiff / Math.Max(maxRef, floor);
    }
}
