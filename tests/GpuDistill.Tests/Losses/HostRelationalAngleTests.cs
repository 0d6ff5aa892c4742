using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// RKD angle on the host backend (libtorch Grams, <c>HostRelationalAngle</c>'s vectorised angles, one pass with the
/// alpha rows summed per thread) through the bridge, upstream gradient 2.5, against the float64 reference on the
/// kernels' hard inputs: batches that are no multiple of eight (the padded lanes), one example, a wide row (41 x
/// 1271), a large offset, equal, zero and duplicate rows, and a batch large enough to run in parallel.
/// </summary>
public sealed class HostRelationalAngleTests
{
    private const double Bound = 2e-5;
    private const double UpstreamGradient = 2.5;
    private static ComputeDevice Device => TestDevices.Get(AcceleratorKind.Simd);

    [TestCase(1, 1, 1)]
    [TestCase(1, 5, 3)]
    [TestCase(2, 7, 4)]
    [TestCase(3, 16, 33)]
    [TestCase(37, 19, 8)]
    [TestCase(41, 1271, 6)]
    [TestCase(70, 12, 33)]
    public void MatchesReference(int batch, int studentWidth, int teacherWidth) =>
        RelationalKernelRun.AcrossInputs(Check, batch, studentWidth, teacherWidth, (1.0, 0f), (300.0, 0f), (1.0, 1000f));

    [Test]
    public void OneFeatureAnExampleGivesAGradientNearZero()
    {
        // In one dimension every angle is +1 or -1 wherever the examples differ, so the exact gradient is 0 and what is
        // measured is the Gram form's float32 rounding: the mixing matrix's entries grow as 1 / (n_ij n_ik) and cancel
        // in M E. With examples at least 0.25 apart it measured 1.2e-5 to 2.9e-5 of the gradient floor over 8 runs
        // (bound 1e-4 here); with uniform draws, whose closest pair can be 1e-3 apart, up to 3.7e-2 (the ILGPU kernels
        // share the form; the composite's normalize is exact in one dimension). Close pairs in few dimensions are
        // where this form is weakest.
        Random random = RandomData.NewRandom();
        Check(Spaced(random), Spaced(random), 9, 1, 1, "B 9, D 1, examples 0.25 apart or more", bound: 1e-4);

        // Nine points on a line, 0.25 to 0.35 apart, in random order.
        static float[] Spaced(Random random) =>
            [.. Enumerable.Range(0, 9).Select(i => (float)((i - 4) * 0.3 + 0.05 * (2 * random.NextDouble() - 1)))
                .OrderBy(_ => random.Next())];
    }

    [Test]
    public void EqualFeaturesGiveFiniteResults() => RelationalKernelRun.EqualRowsOnEitherSide(Check, 5);

    [Test]
    public void ZeroFeatureRowGivesFiniteResults() => RelationalKernelRun.ZeroRowOnEitherSide(Check);

    [Test]
    public void DuplicateExampleMatchesReference() => RelationalKernelRun.DuplicateExampleOnEitherSide(Check);

    [Test]
    public void ALargeBatchRunsInParallelAndMatchesTheSmallBatchPath()
    {
        // B = 96 is past the parallel threshold (B^3 >= 2^18); the per-thread alpha sums must add to the same gradient
        // as the reference's.
        RelationalKernelRun.AcrossInputs(Check, 96, 10, 20, (1.0, 0f));
    }

    private static void Check(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, string what) =>
        Check(s, t, batch, studentWidth, teacherWidth, what, Bound);

    private static void Check(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, string what,
        double bound)
    {
        using var scope = NewDisposeScope();
        Tensor student = tensor(s).reshape(batch, studentWidth).requires_grad_(true);
        Tensor teacher = tensor(t).reshape(batch, teacherWidth);
        Tensor loss = GpuDistill.Losses.RelationalAngle(student, teacher, Device);
        (loss * UpstreamGradient).backward();
        float[] gradient = TensorData.ToArray(student.grad!).Select(g => (float)(g / UpstreamGradient)).ToArray();
        var expected = RelationalAngleReference.Compute(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t), batch,
            studentWidth, teacherWidth);
        double gradientFloor = 1.0 / ((double)batch * batch * RelationalReferenceMath.MaxRowNorm(s, batch, studentWidth));
        RelationalKernelRun.AssertMatches((loss.item<float>(), gradient), expected, what, bound, lossFloor: 1e-2,
            gradientFloor);
    }
}
