using System.Globalization;
using GpuDistill.Accelerators;
using GpuDistill.SoftmaxKL;
using GpuDistill.Tests.References;
using ILGPU.Runtime;

namespace GpuDistill.GpuBench;

/// <summary>One self-check launch: a shape, with or without labels, in one layout.</summary>
/// <param name="Rows">B.</param>
/// <param name="Classes">C.</param>
/// <param name="WithLabels">Labels (some rows padding) and a hard cross-entropy term, or neither.</param>
/// <param name="Layout">The kernel layout launched.</param>
public sealed record SelfCheckCase(int Rows, int Classes, bool WithLabels, SoftmaxKLLayout Layout)
{
    /// <summary>T of the case: 4 without labels, 2 with them.</summary>
    public double Temperature => WithLabels ? 2.0 : 4.0;

    /// <summary>Logits are uniform in [-Scale, Scale]: moderate without labels, extreme (1e4) with them.</summary>
    public double Scale => WithLabels ? 1e4 : 5.0;

    /// <summary>Weight of the KL term.</summary>
    public double SoftWeight => WithLabels ? 0.9 : 1.0;

    /// <summary>Weight of the cross-entropy term.</summary>
    public double HardWeight => WithLabels ? 0.1 : 0.0;

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Rows}x{Classes} {(WithLabels ? "labels" : "no labels"),-9} {Layouts.Name(Layout)}";
}

/// <summary>How far one launch was from the float64 reference, and whether that is within the bounds.</summary>
/// <param name="Device">The device it ran on.</param>
/// <param name="Case">What was launched.</param>
/// <param name="Comparison">Errors and bounds.</param>
public sealed record SelfCheckResult(string Device, SelfCheckCase Case, Comparison Comparison)
{
    /// <summary>True when both loss and gradient are within their bounds.</summary>
    public bool Passed => Comparison.Passed;

    /// <inheritdoc/>
    public override string ToString() => $"  {Device,-6} {Case,-36} {Comparison}";
}

/// <summary>
/// Loss and gradient of one launch against the float64 reference, with the bounds the kernel tests use
/// (tests/GpuDistill.Tests/Generic/Tolerance.cs): relative 2e-5, an absolute loss floor of 1e-6 of the size of the
/// terms, and a gradient floor of 1e-2 of its natural scale w T / N.
/// </summary>
/// <param name="LossError">|loss - reference|.</param>
/// <param name="LossBound">The largest loss error allowed.</param>
/// <param name="GradientError">max |g - reference| / max(max |reference|, floor).</param>
/// <param name="GradientBound">The largest gradient error allowed.</param>
public sealed record Comparison(double LossError, double LossBound, double GradientError, double GradientBound)
{
    /// <summary>Relative error allowed between a float32 kernel and its float64 reference.</summary>
    public const double Relative = 2e-5;

    /// <summary>True when both errors are within their bounds (NaN never is).</summary>
    public bool Passed => LossError <= LossBound && GradientError <= GradientBound;

    /// <summary>Compares one launch's results with the reference's.</summary>
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
        double lossBound = Math.Max(Relative * Math.Abs(expectedLoss), 1e-6 * lossMagnitude);
        double lossError = double.IsFinite(loss) ? Math.Abs(loss - expectedLoss) : double.PositiveInfinity;

        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < gradient.Length; i++)
        {
            if (!float.IsFinite(gradient[i])) { maxDiff = double.PositiveInfinity; break; }
            maxDiff = Math.Max(maxDiff, Math.Abs(gradient[i] - expectedGradient[i]));
            maxRef = Math.Max(maxRef, Math.Abs(expectedGradient[i]));
        }
        // A batch of saturated rows has a true gradient far below float32's resolution of its scale (Tolerance.GradientFloor).
        double gradientError = maxDiff / Math.Max(maxRef, Math.Max(1e-2 * gradientScale, 1e-30));
        return new Comparison(lossError, lossBound, gradientError, Relative);
    }

    /// <summary>T^2 (1 + max|z| / T) + 1 + max|z|: the size of the terms of a softened-softmax loss.</summary>
    /// <param name="student">Student logits.</param>
    /// <param name="teacher">Teacher logits.</param>
    /// <param name="temperature">T.</param>
    /// <returns>The magnitude.</returns>
    public static double LossMagnitude(ReadOnlySpan<float> student, ReadOnlySpan<float> teacher, double temperature)
    {
        double maxAbs = 0;
        foreach (float v in student) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        foreach (float v in teacher) maxAbs = Math.Max(maxAbs, Math.Abs(v));
        return temperature * temperature * (1 + maxAbs / temperature) + 1 + maxAbs;
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"loss err {LossError,7:0.0E+00} (bound {LossBound:0.0E+00})  grad err {GradientError,7:0.0E+00} (bound {GradientBound:0E+00})  {(Passed ? "ok" : "MISMATCH")}");
}

/// <summary>
/// The bundle's self-check: the fused KL kernel (<see cref="SoftmaxKLLauncher"/>, both layouts) on small odd shapes,
/// with and without labels, against the float64 reference of the test suite, on fresh random inputs.
/// </summary>
public static class SelfCheck
{
    /// <summary>Label value of padding rows, as the library's default.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>The shapes checked: a single element, an odd medium shape, and long rows (an LLM-sized vocabulary).</summary>
    public static IReadOnlyList<(int Rows, int Classes)> Shapes { get; } = [(1, 1), (41, 1271), (3, 100003)];

    private static readonly bool[] LabelModes = [false, true];

    /// <summary>Every case: each shape, without and with labels, in both layouts.</summary>
    public static IEnumerable<SelfCheckCase> Cases =>
        from shape in Shapes
        from withLabels in LabelModes
        from layout in Layouts.All
        select new SelfCheckCase(shape.Rows, shape.Classes, withLabels, layout);

    /// <summary>Runs every case on <paramref name="device"/> and reports each on <paramref name="log"/>.</summary>
    /// <param name="device">The device to launch on.</param>
    /// <param name="seed">Seed of the random inputs (printed, so a failure can be replayed).</param>
    /// <param name="log">Where each case's line goes.</param>
    /// <returns>One result per case.</returns>
    public static IReadOnlyList<SelfCheckResult> Run(ComputeDevice device, int seed, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(log);
        string name = device.Kind.ToString().ToLowerInvariant();
        log.WriteLine($"self-check on {device} (seed {seed.ToString(CultureInfo.InvariantCulture)})");
        var random = new Random(seed);
        var results = new List<SelfCheckResult>();
        foreach (SelfCheckCase c in Cases)
        {
            var result = new SelfCheckResult(name, c, RunCase(device, c, random));
            log.WriteLine(result);
            results.Add(result);
        }
        int failed = results.Count(r => !r.Passed);
        log.WriteLine(failed == 0 ? $"self-check on {name}: all {results.Count} cases match the float64 reference"
            : $"self-check on {name}: {failed} of {results.Count} cases MISMATCH");
        return results;
    }

    /// <summary>Runs one case on fresh random inputs and compares it with the reference.</summary>
    /// <param name="device">The device to launch on.</param>
    /// <param name="c">The case.</param>
    /// <param name="random">Source of the inputs.</param>
    /// <returns>The errors and bounds.</returns>
    public static Comparison RunCase(ComputeDevice device, SelfCheckCase c, Random random)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(random);
        long elements = (long)c.Rows * c.Classes;
        float[] student = Uniform(random, elements, c.Scale);
        float[] teacher = Uniform(random, elements, c.Scale);
        // Every fifth row from the second on is padding, so the small shapes keep a counted row.
        int[]? labels = c.WithLabels
            ? Enumerable.Range(0, c.Rows).Select(i => i % 5 == 1 ? IgnoreIndex : random.Next(c.Classes)).ToArray()
            : null;
        int counted = ReferenceMath.Counted(c.Rows, labels, IgnoreIndex);

        (double expectedLoss, double[] expectedGradient) = SoftmaxKLReference.Compute(student, teacher, c.Rows,
            c.Classes, c.Temperature, labels, c.SoftWeight, c.HardWeight, IgnoreIndex);
        (double loss, float[] gradient) = Launch(device, student, teacher, labels, c, counted);

        double gradientScale = Math.Max(c.SoftWeight * c.Temperature, c.HardWeight) / Math.Max(1, counted);
        return Comparison.Of(loss, gradient, expectedLoss, expectedGradient,
            Comparison.LossMagnitude(student, teacher, c.Temperature), gradientScale);
    }

    private static (double Loss, float[] Gradient) Launch(ComputeDevice device, float[] student, float[] teacher,
        int[]? labels, SelfCheckCase c, int counted)
    {
        Accelerator accelerator = device.Accelerator;
        var p = new SoftmaxKLParameters(c.Rows, c.Classes, (float)c.Temperature, (float)c.SoftWeight,
            (float)c.HardWeight, labels is not null, IgnoreIndex, counted);
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var l = accelerator.Allocate1D(labels ?? [0]);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var r = accelerator.Allocate1D<float>(c.Rows);
        SoftmaxKLLauncher.For(device).Launch(s.View, t.View, labels is null ? default : l.View, g.View, r.View, p, c.Layout);
        accelerator.Synchronize();
        return (r.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D());
    }

    private static float[] Uniform(Random random, long count, double scale)
    {
        var values = new float[count];
        for (long i = 0; i < count; i++) values[i] = (float)((random.NextDouble() * 2 - 1) * scale);
        return values;
    }
}

/// <summary>The two concrete kernel layouts and their short names.</summary>
public static class Layouts
{
    /// <summary>Both concrete layouts, thread per row first.</summary>
    public static IReadOnlyList<SoftmaxKLLayout> All { get; } = [SoftmaxKLLayout.RowPerThread, SoftmaxKLLayout.RowPerGroup];

    /// <summary>"row/thread" or "row/group".</summary>
    /// <param name="layout">A concrete layout.</param>
    /// <returns>The short name.</returns>
    public static string Name(SoftmaxKLLayout layout) => layout switch
    {
        SoftmaxKLLayout.RowPerThread => "row/thread",
        SoftmaxKLLayout.RowPerGroup => "row/group",
        _ => "auto",
    };
}
