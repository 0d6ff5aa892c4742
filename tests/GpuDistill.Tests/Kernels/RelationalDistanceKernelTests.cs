using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.RelationalDistance;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>The RKD distance kernels, straight through the launcher, against the float64 reference.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class RelationalDistanceKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>Float32 distance sums and means against float64.</summary>
    private const double Bound = 2e-5;

    [TestCase(2, 7, 4)]
    [TestCase(3, 16, 33)]
    [TestCase(37, 19, 8)]
    [TestCase(256, 24, 40)]
    public void MatchesReference(int batch, int studentWidth, int teacherWidth) =>
        RelationalKernelRun.AcrossInputs(Check, batch, studentWidth, teacherWidth, (1.0, 0f), (300.0, 0f), (1.0, 1000f));

    // Every student pair is clamped: distances 1e-6, mean 1e-6, no gradient anywhere.
    [Test]
    public void EqualFeaturesGiveFiniteResults() => RelationalKernelRun.EqualRowsOnEitherSide(Check, 5);

    [Test]
    public void ZeroFeatureRowGivesFiniteResults() => RelationalKernelRun.ZeroRowOnEitherSide(Check);

    [Test]
    public void OneExampleIsRejected()
    {
        Assert.That(() => KernelLaunches.RunPair(Device, [1, 2], [3], 1, (s, t, g, r) =>
            Device.Kernels<RelationalDistanceLauncher>().Run(s, t, g, r, 1, 2, 1)),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("at least 2"));
    }

    private void Check(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, string what)
    {
        var actual = KernelLaunches.RunPair(Device, s, t, batch, (sv, tv, g, r) =>
            Device.Kernels<RelationalDistanceLauncher>().Run(sv, tv, g, r, batch, studentWidth, teacherWidth));
        var expected = RelationalDistanceReference.Compute(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t),
            batch, studentWidth, teacherWidth);
        // The normalised distances are of size 1, so float32 resolves the loss to ~1e-7 of 1 / B^2 per entry.
        double gradientFloor = 1.0 / ((double)batch * batch * RelationalReferenceMath.MaxRowNorm(s, batch, studentWidth));
        RelationalKernelRun.AssertMatches(actual, expected, what, Bound, lossFloor: 1e-2, gradientFloor);
    }
}
