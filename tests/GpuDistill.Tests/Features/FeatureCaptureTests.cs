using GpuDistill.Features;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Tests.Features;

/// <summary>Forward hooks by module path on a model built here, unknown to the library.</summary>
public sealed class FeatureCaptureTests
{
    /// <summary>features = (conv, relu, conv), then global pooling, then head: paths features, features.0..2, head.</summary>
    private sealed class TinyNet : Module<Tensor, Tensor>
    {
        private readonly Sequential features;
        private readonly Linear head;

        public TinyNet() : base(nameof(TinyNet))
        {
            manual_seed(11);
            features = Sequential(Conv2d(1, 4, 3), ReLU(), Conv2d(4, 6, 3));
            head = Linear(6, 3);
            RegisterComponents();
        }

        public Sequential Features => features;

        public override Tensor forward(Tensor input) => head.call(features.call(input).mean([2, 3]));
    }

    [Test]
    public void CapturesOutputsAndInputsByPath()
    {
        using var net = new TinyNet();
        using var capture = new FeatureCapture(net, ["features.0", "features", "head:in"]);
        using var scope = NewDisposeScope();
        Tensor x = randn(2, 1, 8, 8);
        net.call(x);

        Tensor conv0 = net.Features[0].call(x);
        Tensor all = net.Features.call(x);
        Assert.Multiple(() =>
        {
            Assert.That(capture["features.0"].allclose(conv0), Is.True, "output of features.0");
            Assert.That(capture["features"].allclose(all), Is.True, "output of the whole block");
            Assert.That(capture["head:in"].allclose(all.mean([2, 3])), Is.True, "input of head");
            Assert.That(capture["features.0"].shape, Is.EqualTo(new long[] { 2, 4, 6, 6 }));
        });
    }

    [Test]
    public void AWrongPathListsTheValidOnesNearIt()
    {
        using var net = new TinyNet();
        var error = Assert.Throws<ArgumentException>(() => new FeatureCapture(net, ["features.7"]))!;
        Assert.That(error.Message, Does.Contain("'features.7'").And.Contain("features.0").And.Contain("features.2"));
        Assert.That(error.ParamName, Is.EqualTo("layers"));
        Assert.Throws<ArgumentException>(() => new FeatureCapture(net, ["head:out"]));
    }

    [Test]
    public void GradientsFlowThroughStudentCaptures()
    {
        using var net = new TinyNet();
        using var capture = new FeatureCapture(net, ["features.0"]);
        using var scope = NewDisposeScope();
        net.call(randn(2, 1, 8, 8));
        capture["features.0"].pow(2).sum().backward();
        Parameter weight = net.Features.parameters().First();
        Assert.That(weight.grad, Is.Not.Null);
        Assert.That(weight.grad!.abs().sum().item<float>(), Is.GreaterThan(0f));
    }

    [Test]
    public void ClearFreesTheCapturesAndALaterReadSaysSo()
    {
        using var net = new TinyNet();
        using var capture = new FeatureCapture(net, ["features.2"]);
        using (var scope = NewDisposeScope()) net.call(randn(1, 1, 8, 8));
        Tensor held = capture["features.2"];
        capture.Clear();
        Assert.That(held.IsInvalid, Is.True, "the capture's own alias is freed");
        Assert.Throws<InvalidOperationException>(() => _ = capture["features.2"]);
        Assert.Throws<KeyNotFoundException>(() => _ = capture["features.1"]);
    }

    [Test]
    public void ThousandsOfStepsKeepNoTensorsAlive()
    {
        using var net = new TinyNet();
        using var capture = new FeatureCapture(net, ["features.0", "features", "head:in"]);
        long after100 = 0;
        for (int step = 1; step <= 3000; step++)
        {
            using (var scope = NewDisposeScope())
            {
                Tensor y = net.call(randn(4, 1, 8, 8));
                y.sum().add(capture["features.0"].mean(), alpha: 1).backward();
            }
            capture.Clear();
            foreach (var p in net.parameters()) p.grad = null;
            if (step == 100) after100 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        long after3000 = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.That(after3000, Is.LessThanOrEqualTo(after100), "live tensors on this thread after 100 and 3000 steps");
    }

    [Test]
    public void DisposeRemovesTheHooks()
    {
        using var net = new TinyNet();
        var capture = new FeatureCapture(net, ["features.0"]);
        capture.Dispose();
        using var scope = NewDisposeScope();
        net.call(randn(1, 1, 8, 8));
        Assert.Throws<InvalidOperationException>(() => _ = capture["features.0"]);
    }
}
