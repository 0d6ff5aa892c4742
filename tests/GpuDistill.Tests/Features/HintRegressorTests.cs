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
    public void TheOneByOneRegressorMatchesLibtorchsConvolutionWithItsGradients()
    {
        // The 1x1 case runs SameConv2d's convolution on the Conv2d's weight and bias; the same module through libtorch's
        // conv2d (in float64) must give the same output and gradients, upstream gradient not 1.
        using var regressor = new HintRegressor([16, 7, 7], [24, 7, 7]);
        using var scope = NewDisposeScope();
        Tensor x = randn(5, 16, 7, 7).requires_grad_(true);
        Tensor upstream = randn(5, 24, 7, 7).mul(2.5);
        Tensor mapped = regressor.call(x);
        mapped.backward([upstream]);

        var weight = regressor.named_parameters().Single(p => p.name == "conv.weight").parameter;
        var bias = regressor.named_parameters().Single(p => p.name == "conv.bias").parameter;
        Tensor x64 = x.detach().to_type(ScalarType.Float64).requires_grad_(true);
        Tensor w64 = weight.detach().to_type(ScalarType.Float64).requires_grad_(true);
        Tensor b64 = bias.detach().to_type(ScalarType.Float64).requires_grad_(true);
        Tensor conv = nn.functional.conv2d(x64, w64, b64);
        // The batch norm in training mode, as the regressor's: over batch and space, biased variance, eps 1e-5.
        Tensor mean = conv.mean([0, 2, 3], keepdim: true), variance = conv.var([0, 2, 3], unbiased: false, keepdim: true);
        Tensor expected = nn.functional.relu(conv.sub(mean).div(variance.add(1e-5).sqrt()));
        expected.backward([upstream.to_type(ScalarType.Float64)]);
        Assert.Multiple(() =>
        {
            Assert.That(mapped.to_type(ScalarType.Float64).allclose(expected, rtol: 1e-4, atol: 1e-4), "output");
            // Batch norm cancels the bias in training mode; before it, the bias must be there (eval mode reads it).
            using (no_grad()) Assert.That(regressor.Regress(x).to_type(ScalarType.Float64).allclose(conv.detach(), rtol: 1e-5, atol: 1e-5), "the convolution with its bias");
            Assert.That(x.grad!.to_type(ScalarType.Float64).allclose(x64.grad!, rtol: 1e-3, atol: 1e-3), "input gradient");
            Assert.That(weight.grad!.to_type(ScalarType.Float64).allclose(w64.grad!, rtol: 1e-3, atol: 1e-3), "weight gradient");
            Assert.That(regressor.state_dict().Keys, Is.EquivalentTo(new[] { "conv.weight", "conv.bias", "norm.weight", "norm.bias",
                "norm.running_mean", "norm.running_var", "norm.num_batches_tracked" }), "Conv2d's checkpoint keys");
        });
    }

    [Test]
    public void RejectsShapesItCannotMap()
    {
        Assert.Throws<ArgumentException>(() => new HintRegressor([8, 5, 5], [16, 7, 7]), "smaller, not half");
        var rank = Assert.Throws<ArgumentException>(() => new HintRegressor([32], [16, 7, 7]))!;
        Assert.That(rank.Message, Does.Contain("[B, C, H, W]"));
    }
}
