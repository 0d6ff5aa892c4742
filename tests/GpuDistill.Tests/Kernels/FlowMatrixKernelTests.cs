using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using Map = GpuDistill.References.FlowMatrixReference.Map;

namespace GpuDistill.Tests.Kernels;

/// <summary>The FSP kernels, straight through the launcher on pooled [B, C, HW] maps, against the float64 reference.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class FlowMatrixKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double Bound = 2e-5;

    [TestCase(1, 2, 3, 4, 9)]
    [TestCase(2, 3, 5, 16, 4)]
    [TestCase(3, 8, 4, 7, 7)]
    [TestCase(37, 4, 6, 9, 16)]
    [TestCase(256, 3, 2, 4, 4)]
    public void MatchesReference(int batch, int c1, int c2, int studentArea, int teacherArea)
    {
        Random random = RandomData.NewRandom();
        foreach (double scale in new[] { 1.0, 100.0 })
        {
            Check(RandomData.Uniform(random, batch * c1 * studentArea, scale), RandomData.Uniform(random, batch * c2 * studentArea, scale),
                RandomData.Uniform(random, batch * c1 * teacherArea, 1), RandomData.Uniform(random, batch * c2 * teacherArea, 1),
                batch, c1, c2, studentArea, teacherArea, $"B {batch}, C1 {c1}, C2 {c2}, HWs {studentArea}, HWt {teacherArea}, scale {scale}");
        }
    }

    [Test]
    public void DegenerateMapsGiveFiniteResults()
    {
        Random random = RandomData.NewRandom();
        float[] tb = RandomData.Uniform(random, 4 * 3 * 5, 1), tt = RandomData.Uniform(random, 4 * 2 * 5, 1);
        Check(new float[4 * 3 * 6], RandomData.Uniform(random, 4 * 2 * 6, 1), tb, tt, 4, 3, 2, 6, 5, "zero student bottom");
        Check(Enumerable.Repeat(0.75f, 4 * 3 * 6).ToArray(), Enumerable.Repeat(-2f, 4 * 2 * 6).ToArray(), tb, tt, 4, 3, 2, 6, 5,
            "constant student maps");
    }

    private void Check(float[] sb, float[] st, float[] tb, float[] tt, int batch, int c1, int c2, int studentArea,
        int teacherArea, string what)
    {
        (double loss, float[] gradient) = KernelLaunches.RunFlow(Device, sb, st, tb, tt, batch, c1, c2, studentArea, teacherArea);

        (double expectedLoss, double[] dBottom, double[] dTop) = FlowMatrixReference.Compute(
            new Map(ReferenceMath.ToDouble(sb), batch, c1, studentArea, 1), new Map(ReferenceMath.ToDouble(st), batch, c2, studentArea, 1),
            new Map(ReferenceMath.ToDouble(tb), batch, c1, teacherArea, 1), new Map(ReferenceMath.ToDouble(tt), batch, c2, teacherArea, 1));
        RelationalKernelRun.AssertMatches((loss, gradient), (expectedLoss, [.. dBottom, .. dTop]), what, Bound);
    }
}
