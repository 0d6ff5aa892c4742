using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.SimilarityPreserving;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>The similarity-preserving kernels, straight through the launcher, against the float64 reference.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class SimilarityPreservingKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    /// <summary>Float32 Gram sums and row norms against float64: measured below 2e-6 on these shapes.</summary>
    private const double Bound = 2e-5;

    [TestCase(1, 5, 3)]
    [TestCase(2, 7, 4)]
    [TestCase(3, 16, 33)]
    [TestCase(37, 19, 8)]
    [TestCase(256, 24, 40)]
    public void MatchesReference(int batch, int studentWidth, int teacherWidth) =>
        RelationalKernelRun.AcrossInputs(Check, batch, studentWidth, teacherWidth, (1.0, 0f), (300.0, 0f));

    [TestCase(1)]
    [TestCase(5)]
    public void EqualFeaturesGiveFiniteResults(int batch) => RelationalKernelRun.EqualRowsOnEitherSide(Check, batch);

    // A zero row has a zero Gram row, which the 1e-12 clamp turns into G / 1e-12: its gradient is ~1e12 (as
    // PyTorch's), finite, and the rest stays exact.
    [Test]
    public void ZeroFeatureRowGivesFiniteResults() => RelationalKernelRun.ZeroRowOnEitherSide(Check);

    private void Check(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, string what)
    {
        var actual = KernelLaunches.RunPair(Device, s, t, batch, (sv, tv, g, r) =>
            Device.Kernels<SimilarityPreservingLauncher>().Run(sv, tv, g, r, batch, studentWidth, teacherWidth));
        var expected = SimilarityPreservingReference.Compute(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t),
            batch, studentWidth, teacherWidth);
        // The loss is ||G^_t - G^_s||^2 / B^2 of unit rows: float32 resolves it to ~1e-7 of 1. Gradient entries are
        // of size 1 / (B^2 |F|) when the relations differ; where they agree (B = 1, equal rows) the exact gradient
        // is 0 and float32 leaves ~1e-7 of that size, so it is the floor.
        double gradientFloor = 1.0 / ((double)batch * batch * RelationalReferenceMath.MaxRowNorm(s, batch, studentWidth));
        RelationalKernelRun.AssertMatches(actual, expected, what, Bound, lossFloor: 1e-2, gradientFloor);
    }
}
