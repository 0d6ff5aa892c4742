using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static GpuDistill.Tests.Losses.RelationalLossTestMath;
using static TorchSharp.torch;
using Map = GpuDistill.References.FlowMatrixReference.Map;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.FlowMatrix"/> through TorchSharp autograd: both student layers get 2.5 times the
/// float64 reference gradients (through the pooling), the teacher none; and loss and gradients agree with the same
/// math in TorchSharp ops (adaptive_avg_pool2d, bmm) in float64, also where the pooling windows overlap.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class FlowMatrixLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;
    private const double Bound = 2e-5;

    // batch, C1, C2, student bottom size, student top size, teacher bottom size, teacher top size
    [TestCase(1, 2, 3, 4, 4, 2, 2)]
    [TestCase(3, 4, 2, 8, 4, 6, 3)]
    [TestCase(37, 3, 5, 2, 4, 4, 4)]
    public void BackwardGivesReferenceGradientsTimesUpstream(int batch, int c1, int c2, int sb, int st, int tb, int tt)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor studentBottom = RandomFeatures(random, 1, batch, c1, sb, sb).requires_grad_(true);
        Tensor studentTop = RandomFeatures(random, 1, batch, c2, st, st).requires_grad_(true);
        Tensor teacherBottom = RandomFeatures(random, 1, batch, c1, tb, tb).requires_grad_(true);
        Tensor teacherTop = RandomFeatures(random, 1, batch, c2, tt, tt);
        Tensor loss = GpuDistill.Losses.FlowMatrix(studentBottom, studentTop, teacherBottom, teacherTop, Device);
        (loss * UpstreamGradient).backward();

        (double expectedLoss, double[] dBottom, double[] dTop) = FlowMatrixReference.Compute(
            new Map(Values(studentBottom), batch, c1, sb, sb), new Map(Values(studentTop), batch, c2, st, st),
            new Map(Values(teacherBottom), batch, c1, tb, tb), new Map(Values(teacherTop), batch, c2, tt, tt));
        Assert.That(teacherBottom.grad, Is.Null, "the teacher never receives a gradient");
        Tensor both = cat([studentBottom.grad!.flatten(), studentTop.grad!.flatten()]);
        AssertClose(loss.item<float>(), both, expectedLoss, [.. dBottom.Concat(dTop).Select(g => g * UpstreamGradient)],
            Bound, $"B {batch}");
    }

    [TestCase(2, 3, 4, 7, 3, 5, 5)]
    [TestCase(64, 8, 16, 16, 8, 8, 16)]
    public void MatchesTorchSharpComposite(int batch, int c1, int c2, int sb, int st, int tb, int tt)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor[] maps =
        [
            RandomFeatures(random, 2, batch, c1, sb, sb), RandomFeatures(random, 2, batch, c2, st, st),
            RandomFeatures(random, 2, batch, c1, tb, tb), RandomFeatures(random, 2, batch, c2, tt, tt),
        ];
        Tensor fb = maps[0].clone().requires_grad_(true), ft = maps[1].clone().requires_grad_(true);
        Tensor lossFused = GpuDistill.Losses.FlowMatrix(fb, ft, maps[2], maps[3], Device);
        (lossFused * UpstreamGradient).backward();

        Tensor cb = maps[0].to_type(ScalarType.Float64).requires_grad_(true);
        Tensor ct = maps[1].to_type(ScalarType.Float64).requires_grad_(true);
        (Tensor pb, Tensor pt) = Pool(cb, ct);
        (Tensor qb, Tensor qt) = Pool(maps[2].to_type(ScalarType.Float64), maps[3].to_type(ScalarType.Float64));
        Tensor lossComposite = FlowMatrix(pb, pt, qb, qt);
        (lossComposite * UpstreamGradient).backward();
        AssertClose(lossFused.item<float>(), cat([fb.grad!.flatten(), ft.grad!.flatten()]), lossComposite.item<double>(),
            cat([cb.grad!.flatten(), ct.grad!.flatten()]).data<double>().ToArray(), Bound, "composite");
    }

    [Test]
    public void FrozenLayerGetsNoGradient()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor bottom = RandomFeatures(random, 1, 2, 3, 4, 4);
        Tensor top = RandomFeatures(random, 1, 2, 2, 4, 4).requires_grad_(true);
        GpuDistill.Losses.FlowMatrix(bottom, top, RandomFeatures(random, 1, 2, 3, 4, 4), RandomFeatures(random, 1, 2, 2, 4, 4), Device).backward();
        Assert.That(bottom.grad, Is.Null);
        Assert.That(top.grad, Is.Not.Null);
    }

    private static (Tensor Bottom, Tensor Top) Pool(Tensor bottom, Tensor top)
    {
        long h = Math.Min(bottom.shape[2], top.shape[2]), w = Math.Min(bottom.shape[3], top.shape[3]);
        return (nn.functional.adaptive_avg_pool2d(bottom, [h, w]), nn.functional.adaptive_avg_pool2d(top, [h, w]));
    }
}
