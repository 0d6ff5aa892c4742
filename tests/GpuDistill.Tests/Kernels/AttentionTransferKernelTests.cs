using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using ILGPU.Runtime;

namespace GpuDistill.Tests.Kernels;

/// <summary>
/// The attention-transfer and attention-map kernels straight through their launcher, against the float64 reference:
/// odd and large shapes, teachers with other channel counts, p in {1, 1.5, 2, 3}, both forms, features scaled by
/// 1e3 and 1e-3, all-zero examples.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class AttentionTransferKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>B, student C, teacher C, H, W.</summary>
    public static readonly (int Batch, int StudentChannels, int TeacherChannels, int Height, int Width)[] Shapes =
        [(1, 3, 3, 1, 1), (7, 13, 13, 5, 9), (64, 256, 256, 8, 8), (7, 13, 21, 5, 9), (64, 256, 128, 8, 8)];

    /// <summary>Student and teacher feature scales: plain, both large, both small, and one of each.</summary>
    public static readonly (double Student, double Teacher)[] Scales = [(1, 1), (1e3, 1e3), (1e-3, 1e-3), (1e3, 1e-3)];

    [Test, Combinatorial]
    public void LossMatchesReference(
        [Values(0, 1, 3)] int shape,
        [Values(1.0, 1.5, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form,
        [Range(0, 3)] int scale)
    {
        (int batch, int cs, int ct, int h, int w) = Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)batch * cs * h * w, Scales[scale].Student);
        float[] teacher = RandomData.Uniform(random, (long)batch * ct * h * w, Scales[scale].Teacher);
        AssertMatchesReference(student, teacher, batch, cs, ct, h * w, p, form);
    }

    [Test, Combinatorial]
    public void LargeShapesMatchReference(
        [Values(2, 4)] int shape,
        [Values(1.0, 1.5, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form,
        [Values(0, 3)] int scale)
    {
        (int batch, int cs, int ct, int h, int w) = Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, (long)batch * cs * h * w, Scales[scale].Student);
        float[] teacher = RandomData.Uniform(random, (long)batch * ct * h * w, Scales[scale].Teacher);
        AssertMatchesReference(student, teacher, batch, cs, ct, h * w, p, form);
    }

    [Test, Combinatorial]
    public void EveryRunLengthGivesTheSameResults([Values(1, 7, 64)] int positionsPerThread, [Values] AttentionTransferForm form)
    {
        // A GPU runs one position per thread and the CPU accelerator long runs: each position is computed by the same
        // code whatever the run, so the results are identical, and the GPU layout is exercised here on the CPU.
        const int batch = 5, cs = 9, ct = 4, positions = 45;
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, batch * cs * positions, 2);
        float[] teacher = RandomData.Uniform(random, batch * ct * positions, 2);
        float[] upstream = RandomData.Uniform(random, batch * positions, 1);

        (double loss, float[] gradient) = RunLoss(student, teacher, batch, cs, ct, positions, 1.5, form);
        (double lossRun, float[] gradientRun) = RunLoss(student, teacher, batch, cs, ct, positions, 1.5, form, positionsPerThread);
        (float[] map, float[] mapGradient) = RunMap(student, upstream, batch, cs, positions, 1.5, form);
        (float[] mapRun, float[] mapGradientRun) = RunMap(student, upstream, batch, cs, positions, 1.5, form, positionsPerThread);
        Assert.Multiple(() =>
        {
            Assert.That(lossRun, Is.EqualTo(loss));
            Assert.That(gradientRun, Is.EqualTo(gradient));
            Assert.That(mapRun, Is.EqualTo(map));
            Assert.That(mapGradientRun, Is.EqualTo(mapGradient));
        });
        AssertMatchesReference(student, teacher, batch, cs, ct, positions, 1.5, form, positionsPerThread);
    }

    [Test, Combinatorial]
    public void AllZeroExamplesGiveFiniteLossAndGradient(
        [Values(1.0, 1.5, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form,
        [Values("student", "teacher", "both")] string zeroed)
    {
        const int batch = 4, cs = 6, ct = 5, positions = 12;
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, batch * cs * positions, 2);
        float[] teacher = RandomData.Uniform(random, batch * ct * positions, 2);
        // Example 1 of the chosen feature(s) is all zero: its map is 0 and the normalisation's floor is active.
        if (zeroed != "teacher") Array.Clear(student, 1 * cs * positions, cs * positions);
        if (zeroed != "student") Array.Clear(teacher, 1 * ct * positions, ct * positions);

        (double loss, float[] gradient) = RunLoss(student, teacher, batch, cs, ct, positions, p, form);
        Assert.That(double.IsFinite(loss), $"loss {loss}");
        Assert.That(gradient, Has.All.Matches<float>(float.IsFinite));
        AssertMatchesReference(student, teacher, batch, cs, ct, positions, p, form);
    }

    [Test, Combinatorial]
    public void EqualFeaturesGiveExactlyZeroLossAndGradient([Values(1.5, 2.0)] double p, [Values] AttentionTransferForm form)
    {
        // The paper form's gradient is defined as 0 where a_s = a_t (||d|| is not differentiable there).
        Random random = RandomData.NewRandom();
        float[] student = RandomData.Uniform(random, 3 * 4 * 10, 2);
        (double loss, float[] gradient) = RunLoss(student, (float[])student.Clone(), 3, 4, 4, 10, p, form);
        Assert.That(loss, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    [Test, Combinatorial]
    public void MapAndItsBackwardMatchReference(
        [Values(0, 1, 3)] int shape,
        [Values(1.0, 1.5, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form,
        [Values(1.0, 1e3, 1e-3)] double scale) => AssertMapMatchesReference(shape, p, form, scale);

    [Test, Combinatorial]
    public void LargeMapAndItsBackwardMatchReference(
        [Values(2)] int shape,
        [Values(1.5, 2.0)] double p,
        [Values] AttentionTransferForm form,
        [Values(1.0, 1e-3)] double scale) => AssertMapMatchesReference(shape, p, form, scale);

    private void AssertMapMatchesReference(int shape, double p, AttentionTransferForm form, double scale)
    {
        (int batch, int channels, _, int h, int w) = Shapes[shape];
        int positions = h * w;
        Random random = RandomData.NewRandom();
        float[] feature = RandomData.Uniform(random, (long)batch * channels * positions, scale);
        float[] upstream = RandomData.Uniform(random, (long)batch * positions, 1);
        if (batch > 1) Array.Clear(feature, 0, channels * positions); // one all-zero example

        (float[] map, float[] gradient) = RunMap(feature, upstream, batch, channels, positions, p, form);

        double[] features64 = ReferenceMath.ToDouble(feature);
        double[] expectedMap = AttentionTransferReference.Map(features64, batch, channels, positions, p, form);
        double[] expectedGradient = AttentionTransferReference.MapBackward(features64, ReferenceMath.ToDouble(upstream),
            batch, channels, positions, p, form);
        double floor = Tolerance.GradientFloor(AttentionTransferReference.GradientScale(features64, batch, channels,
            positions, p, form, upstreamSize: upstream.Max(Math.Abs)));
        Assert.Multiple(() =>
        {
            Assert.That(Tolerance.RelativeMaxError(map, expectedMap), Is.LessThan(Tolerance.Kernel), "map");
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient, floor), Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    [Test]
    public void NaNFeatureGivesNaNLossNotACrash([Values] AttentionTransferForm form)
    {
        // The bridge reports non-finite features by name; the kernels must carry NaN through, not hide it.
        float[] student = [1, 2, 3, float.NaN, 5, 6, 7, 8];
        float[] teacher = [1, 2, 3, 4, 5, 6, 7, 8];
        (double loss, _) = RunLoss(student, teacher, 2, 2, 2, 2, 2, form);
        Assert.That(loss, Is.NaN);
        (double lossInf, _) = RunLoss(teacher, [1, 2, 3, 4, float.PositiveInfinity, 6, 7, 8], 2, 2, 2, 2, 2, form);
        Assert.That(lossInf, Is.NaN.Or.EqualTo(double.PositiveInfinity));
    }

    [Test]
    public void LaunchRejectsViewsOfTheWrongLengthAndBadScalars()
    {
        AttentionTransferLauncher launcher = Device.Kernels<AttentionTransferLauncher>();
        Accelerator accelerator = Device.Accelerator;
        using var student = accelerator.Allocate1D<float>(2 * 3 * 4);
        using var teacher = accelerator.Allocate1D<float>(2 * 5 * 4 - 1);
        using var sums = accelerator.Allocate1D<float>(8);
        using var teacherSums = accelerator.Allocate1D<float>(8);
        using var mapGradient = accelerator.Allocate1D<float>(8);
        using var gradient = accelerator.Allocate1D<float>(2 * 3 * 4);
        using var loss = accelerator.Allocate1D<float>(2);
        var p = new AttentionTransferParameters(2, 3, 5, 4, 2f, AttentionTransferForm.Code);
        var ex = Assert.Throws<ArgumentException>(() => launcher.LaunchLoss(student.View, teacher.View, sums.View,
            teacherSums.View, mapGradient.View, gradient.View, loss.View, p));
        Assert.That(ex!.ParamName, Is.EqualTo("teacher"));

        var badP = new AttentionMapParameters(2, 3, 4, 0f, AttentionTransferForm.Code);
        Assert.Throws<ArgumentOutOfRangeException>(() => launcher.LaunchMap(student.View, sums.View, loss.View, badP));
    }

    private void AssertMatchesReference(float[] student, float[] teacher, int batch, int cs, int ct, int positions,
        double p, AttentionTransferForm form, int positionsPerThread = 0)
    {
        (double expectedLoss, double[] expectedGradient) =
            AttentionTransferReference.Compute(student, teacher, batch, cs, ct, positions, p, form);
        double gradientScale = AttentionTransferReference.GradientScale(ReferenceMath.ToDouble(student), batch, cs,
            positions, p, form);
        (double loss, float[] gradient) = RunLoss(student, teacher, batch, cs, ct, positions, p, form, positionsPerThread);

        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss, expectedLoss, LossMagnitude(positions, form));
            Assert.That(Tolerance.RelativeMaxError(gradient, expectedGradient, Tolerance.GradientFloor(gradientScale)),
                Is.LessThan(Tolerance.Kernel), "gradient");
        });
    }

    /// <summary>
    /// The size of the terms the loss is made of: a map entry is at most 1 and each example adds ||d||^2 &lt;= 2 over
    /// B H W (code form) or ||d|| &lt;= sqrt 2 over B (paper form). Float32 maps resolve d to ~1e-7 of that.
    /// </summary>
    public static double LossMagnitude(int positions, AttentionTransferForm form) =>
        form == AttentionTransferForm.Paper ? 1 : 1.0 / positions;

    private (double Loss, float[] Gradient) RunLoss(float[] student, float[] teacher, int batch, int cs, int ct,
        int positions, double p, AttentionTransferForm form, int positionsPerThread = 0)
    {
        Accelerator accelerator = Device.Accelerator;
        var parameters = new AttentionTransferParameters(batch, cs, ct, positions, (float)p, form);
        using var s = accelerator.Allocate1D(student);
        using var t = accelerator.Allocate1D(teacher);
        using var studentSums = accelerator.Allocate1D<float>(batch * positions);
        using var teacherSums = accelerator.Allocate1D<float>(batch * positions);
        using var mapGradient = accelerator.Allocate1D<float>(batch * positions);
        using var g = accelerator.Allocate1D<float>(student.Length);
        using var l = accelerator.Allocate1D<float>(batch);
        Device.Kernels<AttentionTransferLauncher>().LaunchLoss(s.View, t.View, studentSums.View, teacherSums.View,
            mapGradient.View, g.View, l.View, parameters, positionsPerThread);
        accelerator.Synchronize();
        return (l.GetAsArray1D().Sum(v => (double)v), g.GetAsArray1D());
    }

    private (float[] Map, float[] Gradient) RunMap(float[] feature, float[] upstream, int batch, int channels,
        int positions, double p, AttentionTransferForm form, int positionsPerThread = 0)
    {
        Accelerator accelerator = Device.Accelerator;
        var m = new AttentionMapParameters(batch, channels, positions, (float)p, form);
        AttentionTransferLauncher launcher = Device.Kernels<AttentionTransferLauncher>();
        using var f = accelerator.Allocate1D(feature);
        using var u = accelerator.Allocate1D(upstream);
        using var map = accelerator.Allocate1D<float>(batch * positions);
        using var norms = accelerator.Allocate1D<float>(batch);
        using var mapGradient = accelerator.Allocate1D<float>(batch * positions);
        using var g = accelerator.Allocate1D<float>(feature.Length);
        launcher.LaunchMap(f.View, map.View, norms.View, m, positionsPerThread);
        launcher.LaunchMapBackward(f.View, map.View, norms.View, u.View, mapGradient.View, g.View, m, positionsPerThread);
        accelerator.Synchronize();
        return (map.GetAsArray1D(), g.GetAsArray1D());
    }
}
