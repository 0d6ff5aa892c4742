using GpuDistill.Tests.Generic;
using Map = GpuDistill.References.FlowMatrixReference.Map;

namespace GpuDistill.Tests.References;

/// <summary>The FSP reference's gradients (both layers, through pooling) are checked by central finite differences.</summary>
public sealed class FlowMatrixReferenceTests
{
    [TestCase(1, 2, 3, 2, 2, 2)]
    [TestCase(2, 3, 2, 4, 2, 3)]
    [TestCase(3, 2, 4, 2, 4, 1)]
    public void GradientsMatchFiniteDifferences(int batch, int c1, int c2, int bottomSize, int topSize, int teacherSize)
    {
        Random random = RandomData.NewRandom();
        int bottomLength = batch * c1 * bottomSize * bottomSize, topLength = batch * c2 * topSize * topSize;
        double[] sb = ReferenceMath.ToDouble(RandomData.Uniform(random, bottomLength, 1));
        double[] st = ReferenceMath.ToDouble(RandomData.Uniform(random, topLength, 1));
        var tb = new Map(ReferenceMath.ToDouble(RandomData.Uniform(random, batch * c1 * teacherSize * teacherSize, 1)), batch, c1, teacherSize, teacherSize);
        var tt = new Map(ReferenceMath.ToDouble(RandomData.Uniform(random, batch * c2 * teacherSize * teacherSize, 1)), batch, c2, teacherSize, teacherSize);

        (_, double[] dBottom, double[] dTop) = FlowMatrixReference.Compute(
            new Map(sb, batch, c1, bottomSize, bottomSize), new Map(st, batch, c2, topSize, topSize), tb, tt);
        double[] both = [.. sb, .. st];
        FiniteDifferences.AssertGradient(x => FlowMatrixReference.Compute(
                new Map(x[..bottomLength], batch, c1, bottomSize, bottomSize),
                new Map(x[bottomLength..], batch, c2, topSize, topSize), tb, tt).Loss,
            both, [.. dBottom, .. dTop]);
    }
}
