using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.RelationalAngle;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>The RKD angle kernels, straight through the launcher, against the float64 reference (which loops over
/// every triple with the D-vectors themselves, not the Gram matrix the kernels use).</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class RelationalAngleKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>Float32 angles from the centred Gram matrix against float64 unit vectors: measured below 1.1e-6.</summary>
    private const double Bound = 2e-5;

    [TestCase(1, 5, 3)]
    [TestCase(2, 7, 4)]
    [TestCase(3, 16, 33)]
    [TestCase(37, 19, 8)]
    [TestCase(256, 6, 4)]
    public void MatchesReference(int batch, int studentWidth, int teacherWidth) =>
        // The offset case is where an uncentred Gram matrix would cancel: |e|^2 ~ 1e6 D against differences of ~1.
        // B = 256 runs it alone (the CPU simulator takes seconds per call there).
        RelationalKernelRun.AcrossInputs(Check, batch, studentWidth, teacherWidth,
            batch > 64 ? [(1.0, 1000f)] : [(1.0, 0f), (300.0, 0f), (1.0, 1000f)]);

    // Every student direction is the zero vector: all angles 0, no gradient.
    [Test]
    public void EqualFeaturesGiveFiniteResults() => RelationalKernelRun.EqualRowsOnEitherSide(Check, 5);

    [Test]
    public void ZeroFeatureRowGivesFiniteResults() => RelationalKernelRun.ZeroRowOnEitherSide(Check);

    [Test]
    public void DuplicateExampleMatchesReference() => RelationalKernelRun.DuplicateExampleOnEitherSide(Check);

    [Test]
    public void ScratchIsQuadraticInTheBatchNotCubic()
    {
        // B = 256, D = 512: 9 B x B float matrices and the means, 2.4 MB, against 8.6 GB for B^3 x D floats.
        long bytes = RelationalAngleLauncher.ScratchBytes(256, 512, 512);
        Assert.That(bytes, Is.EqualTo(4L * (9 * 256 * 256 + 1024)));
    }

    private void Check(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, string what)
    {
        var actual = KernelLaunches.RunPair(Device, s, t, batch, (sv, tv, g, r) =>
            Device.Kernels<RelationalAngleLauncher>().Run(sv, tv, g, r, batch, studentWidth, teacherWidth));
        var expected = RelationalAngleReference.Compute(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t),
            batch, studentWidth, teacherWidth);
        double gradientFloor = 1.0 / ((double)batch * batch * RelationalReferenceMath.MaxRowNorm(s, batch, studentWidth));
        RelationalKernelRun.AssertMatches(actual, expected, what, Bound, lossFloor: 1e-2, gradientFloor);
    }
}
