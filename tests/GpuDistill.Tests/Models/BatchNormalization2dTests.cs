using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>Our batch norm computes what TorchSharp's does and keeps the same state under the same names.</summary>
public sealed class BatchNormalization2dTests
{
    [Test]
    public void MatchesTorchBatchNorm2dInTrainingAndEval()
    {
        using var ours = new BatchNormalization2d(5);
        using var theirs = nn.BatchNorm2d(5);
        using var scope = NewDisposeScope();
        manual_seed(4);
        for (int step = 0; step < 3; step++)
        {
            Tensor x = randn(6, 5, 3, 4).mul(3).add(1);
            Assert.That(ours.call(x).allclose(theirs.call(x), rtol: 1e-5, atol: 1e-5), Is.True, $"training step {step}");
        }
        Dictionary<string, Tensor> a = ours.state_dict(), b = theirs.state_dict();
        Assert.That(a.Keys, Is.EqualTo(b.Keys));
        foreach (string key in a.Keys)
            Assert.That(a[key].to_type(ScalarType.Float64).allclose(b[key].to_type(ScalarType.Float64), rtol: 1e-5, atol: 1e-6), Is.True, key);
        Assert.That(a["num_batches_tracked"].item<long>(), Is.EqualTo(3));

        ours.eval();
        theirs.eval();
        Tensor y = randn(2, 5, 3, 4);
        Assert.That(ours.call(y).allclose(theirs.call(y), rtol: 1e-5, atol: 1e-5), Is.True, "eval uses the running statistics");
    }

    [Test]
    public void RejectsTheWrongChannelCount()
    {
        using var bn = new BatchNormalization2d(5);
        using var scope = NewDisposeScope();
        var error = Assert.Throws<ArgumentException>(() => bn.call(zeros(2, 4, 3, 3)))!;
        Assert.That(error.Message, Does.Contain("[B, 5, H, W]"));
    }
}
