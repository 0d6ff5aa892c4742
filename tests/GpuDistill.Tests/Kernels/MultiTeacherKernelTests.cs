using GpuDistill.Compute;
using GpuDistill.Compute.HostSimd;
using GpuDistill.Kernels.MultiTeacher;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using ILGPU.Runtime;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The fused multi-teacher loss straight through its backends against the float64 reference: the ILGPU kernels in
/// both layouts through <see cref="MultiTeacherLauncher"/> on every accelerator, and the host SIMD backend through
/// <see cref="HostSimdMultiTeacher.Run"/> (its outputs start as NaN, so an element it forgets to write fails).
/// </summary>
[TestFixtureSource(nameof(Backends))]
public sealed class MultiTeacherKernelTests(AcceleratorKind kind, RowLayout layout) : AcceleratorTestBase(kind)
{
    public static readonly (int Rows, int Classes)[] Shapes = [(1, 1), (41, 1271), (3, 100003), (256, 10)];

    /// <summary>Each ILGPU accelerator kind in both layouts, and the host backend (which has no layouts).</summary>
    public static IEnumerable<TestFixtureData> Backends =>
    [
        .. TestDevices.Kinds.SelectMany(kind => new[] { RowLayout.RowPerThread, RowLayout.RowPerGroup }
            .Select(layout => new TestFixtureData(kind, layout))),
        new TestFixtureData(AcceleratorKind.Simd, RowLayout.Auto),
    ];

    [Test, Combinatorial]
    public void MatchesReference(
        [Range(0, 3)] int shape,
        [Values(1, 2, 5)] int teacherCount,
        [Values] MultiTeacherWeighting weighting,
        [Values(5.0, 1e4)] double scale)
    {
        (int rows, int classes) = Shapes[shape];
        const double temperature = 4.0;
        Random random = RandomData.NewRandom();
        (float[] student, float[] teachers, double[]? weights, int[]? labels) =
            Inputs(random, rows, classes, teacherCount, weighting, scale);
        AssertMatches(student, teachers, weights, labels, rows, classes, teacherCount, temperature);
    }

    [Test, Combinatorial]
    public void MatchesReferenceAcrossTemperatures(
        [Values(0.5, 1.0, 20.0)] double temperature,
        [Values] MultiTeacherWeighting weighting,
        [Values(8.0, 1e4)] double scale)
    {
        Random random = RandomData.NewRandom();
        (float[] student, float[] teachers, double[]? weights, int[]? labels) =
            Inputs(random, 17, 300, 3, weighting, scale);
        AssertMatches(student, teachers, weights, labels, 17, 300, 3, temperature);
    }

    [Test]
    public void ExtremeLogitsStayFinite([Values] MultiTeacherWeighting weighting)
    {
        // Each teacher is certain of a different class, the student of yet another: every softmax is one-hot to
        // float precision and the label probabilities are exp(-2e4). Nothing may come out NaN or infinite.
        const int rows = 4, classes = 7, teacherCount = 3;
        var student = new float[rows * classes];
        var teachers = new float[teacherCount * rows * classes];
        Array.Fill(student, -1e4f);
        Array.Fill(teachers, -1e4f);
        for (int b = 0; b < rows; b++)
        {
            student[b * classes + 6] = 1e4f;
            for (int k = 0; k < teacherCount; k++) teachers[(k * rows + b) * classes + k + b] = 1e4f;
        }
        double[]? weights = weighting == MultiTeacherWeighting.Fixed ? [1, 2, 3] : null;
        int[]? labels = weighting == MultiTeacherWeighting.Confidence ? [5, 5, 5, 5] : null;
        (double loss, float[] gradient) = Run(student, teachers, weights, labels, rows, classes, teacherCount, 1.0);
        Assert.That(double.IsFinite(loss), Is.True, $"loss {loss}");
        Assert.That(gradient.All(float.IsFinite), Is.True, "gradient");
        AssertMatches(student, teachers, weights, labels, rows, classes, teacherCount, 1.0);
    }

    [Test]
    public void ConfidenceWeightsOfConfidentlyWrongTeachersAreResolved()
    {
        // Both teachers put the label 5000 below their max (classes 0 and 2), 0.7 apart: float32 resolves 5000 only
        // to 5e-4, yet the weights (0.67 and 0.33), and so the mixture, must come out as the float64 reference has
        // them (without the exact t_y - max the gradient is off by ~1e-4 of its scale).
        float[] student = [0, 1, 2];
        float[] teachers = [4000.3f, -999.7f, 0f, 0f, -2000.6f, 3000.1f];
        int[] labels = [1];
        AssertMatches(student, teachers, null, labels, 1, 3, 2, 2.0);
        double[] logW = MultiTeacherKDReference.LogWeights(teachers, 1, 3, 2, 0, null, labels);
        Assert.That(Math.Exp(logW[0]), Is.InRange(0.3, 0.7), "the case tests two weights of the same order");
    }

    [Test]
    public void ZeroWeightTeacherIsLeftOut()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 5 * 8, 4);
        float[] t = RandomData.Uniform(random, 2 * 5 * 8, 4);
        (double both, float[] gradientBoth) = Run(s, t, [0, 1], null, 5, 8, 2, 2.0);
        (double second, float[] gradientSecond) = Run(s, t[(5 * 8)..], [1], null, 5, 8, 1, 2.0);
        // In the kernel log q is log(exp(x)) with two teachers and x itself with one: equal to float32 rounding.
        Assert.That(both, Is.EqualTo(second).Within(1e-5).Percent);
        Assert.That(gradientBoth, Is.EqualTo(gradientSecond).AsCollection.Within(1e-6));
        if (Device.UsesHostSimd)
        {
            // The host backend computes a mixture of one teacher as the single-teacher loss: bit for bit.
            Assert.That(both, Is.EqualTo(second));
            Assert.That(gradientBoth, Is.EqualTo(gradientSecond));
        }
    }

    [Test]
    public void NonFiniteLogitsPoisonTheRowEvenAtWeightZero(
        [Values(float.NaN, float.PositiveInfinity, float.NegativeInfinity)] float bad,
        [Values(0, 1, 2)] int where)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 3 * 6, 4);
        float[] t = RandomData.Uniform(random, 2 * 3 * 6, 4);
        if (where == 0) s[7] = bad; // the student
        else t[(where - 1) * 18 + 9] = bad; // teacher 0 (weight 0) or teacher 1
        (double loss, _) = Run(s, t, [0, 1], null, 3, 6, 2, 2.0);
        Assert.That(double.IsFinite(loss), Is.False, $"loss {loss}");
    }

    [Test]
    public void LabelOutOfRangeGivesNaNRowLossNotACrash()
    {
        float[] logits = [1, 2, 3, 4, 5, 6];
        (double loss, float[] gradient) = Run(logits, [.. logits, .. logits], null, [0, 7], 2, 3, 2, 1.0);
        Assert.That(loss, Is.NaN);
        Assert.That(gradient[3..], Is.All.Zero);
    }

    [Test]
    public void RejectsInputsOfTheWrongLength()
    {
        var p = new MultiTeacherParameters(2, 3, 2, 1f, MultiTeacherWeighting.Fixed);
        var confidence = new MultiTeacherParameters(2, 3, 2, 1f, MultiTeacherWeighting.Confidence);
        Assert.Multiple(() =>
        {
            Assert.That(RejectedArgument(6, 6 * 2 - 1, 2, 0, p), Is.EqualTo("teachers"));
            Assert.That(RejectedArgument(6, 6 * 2, 1, 0, p), Is.EqualTo("weights"));
            Assert.That(RejectedArgument(6, 6 * 2, 0, 0, confidence), Is.EqualTo("labels"));
            Assert.That(RejectedArgument(5, 6 * 2, 2, 0, p), Is.EqualTo("student"));
        });
    }

    /// <summary>Random logits, and weights (fixed, not summing to one, one of them possibly 0) or labels.</summary>
    internal static (float[] Student, float[] Teachers, double[]? Weights, int[]? Labels) Inputs(Random random, int rows,
        int classes, int teacherCount, MultiTeacherWeighting weighting, double scale)
    {
        float[] student = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] teachers = RandomData.Uniform(random, (long)teacherCount * rows * classes, scale);
        double[]? weights = null;
        int[]? labels = null;
        if (weighting == MultiTeacherWeighting.Fixed)
        {
            weights = Enumerable.Range(0, teacherCount).Select(_ => random.NextDouble() * 3).ToArray();
            weights[random.Next(teacherCount)] += 0.5; // a positive sum, whatever the draw
        }
        else
        {
            labels = RandomData.Labels(random, rows, classes, ignoreIndex: null);
        }
        return (student, teachers, weights, labels);
    }

    private void AssertMatches(float[] student, float[] teachers, double[]? weights, int[]? labels, int rows,
        int classes, int teacherCount, double temperature) =>
        RowKernelRun.AssertMatches(Run(student, teachers, weights, labels, rows, classes, teacherCount, temperature),
            MultiTeacherKDReference.Compute(student, teachers, rows, classes, teacherCount, temperature, weights, labels),
            Tolerance.SoftLossMagnitude(student, teachers, temperature), GradientScale(temperature, teacherCount), rows,
            $"{rows}x{classes}, K {teacherCount}, T {temperature}, {(weights is null ? "confidence" : "fixed")} weights");

    /// <summary>
    /// The natural scale of a gradient entry, T (p - q), widened by K: float32 holds each normalised log weight to an
    /// ulp, so q sums to one only to about K ulps (at C = 1, where p = q = 1 exactly, seed 612094394 left 2 ulps at
    /// K = 5 on the ILGPU kernel).
    /// </summary>
    internal static double GradientScale(double temperature, int teacherCount) => temperature * teacherCount;

    /// <summary>The loss (row losses summed in float64) and the gradient of one call on this fixture's backend.</summary>
    private (double Loss, float[] Gradient) Run(float[] student, float[] teachers, double[]? weights, int[]? labels,
        int rows, int classes, int teacherCount, double temperature)
    {
        MultiTeacherWeighting weighting = weights is null ? MultiTeacherWeighting.Confidence : MultiTeacherWeighting.Fixed;
        var p = new MultiTeacherParameters(rows, classes, teacherCount, (float)temperature, weighting);
        float[] normalized = weights is null ? [] : weights.Select(w => (float)(w / weights.Sum())).ToArray();
        float[] gradient = Enumerable.Repeat(float.NaN, student.Length).ToArray();
        float[] rowLoss = Enumerable.Repeat(float.NaN, rows).ToArray();
        Call(student, teachers, normalized, labels ?? [], gradient, rowLoss, p);
        return (rowLoss.Sum(v => (double)v), gradient);
    }

    /// <summary>The argument a call with inputs of these lengths rejects, or null when it accepts them.</summary>
    private string? RejectedArgument(int studentLength, int teachersLength, int weightsLength, int labelsLength,
        MultiTeacherParameters p)
    {
        try
        {
            Call(new float[studentLength], new float[teachersLength], new float[weightsLength], new int[labelsLength],
                new float[(long)p.Rows * p.Classes], new float[p.Rows], p);
            return null;
        }
        catch (ArgumentException ex)
        {
            return ex.ParamName;
        }
    }

    /// <summary>
    /// One call: the host backend on the caller's arrays, or one launch on device buffers copied from and back to
    /// them. Empty weights or labels stand for none (an empty view).
    /// </summary>
    private void Call(float[] student, float[] teachers, float[] weights, int[] labels, float[] gradient,
        float[] rowLoss, MultiTeacherParameters p)
    {
        if (Device.UsesHostSimd)
        {
            HostSimdMultiTeacher.Run(student, teachers, weights, labels, gradient, rowLoss, p);
            return;
        }
        Accelerator accelerator = Device.Accelerator;
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teachers);
        using var w = accelerator.Allocate1D(weights.Length == 0 ? [0f] : weights);
        using var l = accelerator.Allocate1D(labels.Length == 0 ? [0] : labels);
        using var stats = accelerator.Allocate1D<float>(MultiTeacherLauncher.StatisticsLength(p.Rows, p.Teachers));
        using var g = accelerator.Allocate1D(gradient);
        using var r = accelerator.Allocate1D(rowLoss);
        Device.Kernels<MultiTeacherLauncher>().Launch(s.View, t.View, weights.Length == 0 ? default : w.View,
            labels.Length == 0 ? default : l.View, stats.View, g.View, r.View, p, layout);
        accelerator.Synchronize();
        g.GetAsArray1D().CopyTo(gradient, 0);
        r.GetAsArray1D().CopyTo(rowLoss, 0);
    }
}
