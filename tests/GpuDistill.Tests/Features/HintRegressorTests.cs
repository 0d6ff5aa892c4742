using GpuDistill.Features;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Features;

/// <summary>The FitNets regressor picks its convolution from the spatial sizes (loss-spec 2.1).</summary>
public sealed class HintRegressorTests
{
    [TestCase(8, 14, 32, 7, TestName = "student twice as large: 3x3 stride-2 conv")]
    [TestCase(8, 7, 16, 14, TestName = "student half as large: 4x4 stride-2 transposed conv")]
    [TestCase(8, 9, 16, 7, TestName = "student 2 pixels larger: 3x3 conv")]
    [TestCase(16, 7, 64, 7, TestName = "same size: 1x1 conv")]
    public void MapsTheStudentShapeToTheTeacherShape(long sc, long sh, long tc, long th)
    {
        using var regressor = new HintRegressor([sc, sh, sh], [tc, th, th]);
        using var scope = NewDisposeScope();
        Tensor mapped = regressor.call(randn(3, sc, sh, sh));
        Assert.That(mapped.shape, Is.EqualTo(new[] { 3, tc, th, th }));
        Assert.That(mapped.min().item<float>(), Is.GreaterThanOrEqualTo(0f), "ends with a ReLU");
    }

    [Test]
    public void RejectsShapesItCannotMap()
    {
        Assert.Throws<ArgumentException>(() => new HintRegressor([8, 5, 5], [16, 7, 7]), "smaller, not half");
        var rank = Assert.Throws<ArgumentException>(() => new HintRegressor([32], [16, 7, 7]))!;
        Assert.That(rank.Message, Does.Contain("[B, C, H, W]"));
    }
}
