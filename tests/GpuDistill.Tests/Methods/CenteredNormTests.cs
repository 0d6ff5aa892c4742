using GpuDistill.Methods;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// MHGD's centred norm against the same normalisation written out in float64, gradients included, with the gradient
/// arriving contiguous or through a transposed view (the layouts where libtorch 2.10's CPU batch_norm got a batch of
/// one wrong in <see cref="Models.BatchNormalization2d"/>).
/// </summary>
public sealed class CenteredNormTests
{
    [TestCase(1, false, 0)]
    [TestCase(1, false, 1)]
    [TestCase(3, false, 1)]
    [TestCase(2, true, 0)]
    [TestCase(2, true, 1)]
    [TestCase(9, true, 1)]
    public void GradientsMatchTheWrittenOutNorm(int batch, bool batchStatistics, int view)
    {
        using var scope = NewDisposeScope();
        manual_seed(Environment.TickCount);
        const int features = 37;
        using var norm = new CenteredNorm(features);
        using (no_grad())
        {
            norm.RunningMean.copy_(rand(features));
            norm.RunningVariance.copy_(rand(features).add(0.5));
            norm.Shift.copy_(rand(features).sub(0.5));
        }
        Tensor input = rand(batch, features).mul(4).sub(1), upstream = rand(features, batch);
        Tensor mean64 = norm.RunningMean.to_type(ScalarType.Float64), var64 = norm.RunningVariance.to_type(ScalarType.Float64);
        Tensor shift64 = norm.Shift.detach().to_type(ScalarType.Float64).requires_grad_();

        Tensor x = input.clone().requires_grad_();
        Tensor y = norm.Forward(x, batchStatistics);
        Tensor loss = view == 0 ? y.mul(upstream.t().contiguous()).sum() : y.t().mul(upstream).sum();
        loss.backward();

        Tensor x64 = input.to_type(ScalarType.Float64).requires_grad_();
        Tensor center = batchStatistics ? x64.mean([0L]) : mean64, spread = batchStatistics ? x64.var([0L], unbiased: false) : var64;
        Tensor y64 = x64.sub(center).div(spread.add(CenteredNorm.Epsilon).sqrt()).add(shift64);
        y64.mul(upstream.t().to_type(ScalarType.Float64)).sum().backward();

        Assert.Multiple(() =>
        {
            Assert.That(Tolerance.MaxError(y, y64).Error, Is.LessThan(1e-4), "output");
            Assert.That(Tolerance.MaxError(x.grad!, x64.grad!).Error, Is.LessThan(1e-3), "input gradient");
            Assert.That(Tolerance.MaxError(norm.Shift.grad!, shift64.grad!).Error, Is.LessThan(1e-4), "shift gradient");
        });
    }
}
