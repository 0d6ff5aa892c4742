using GpuDistill.Interop;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

/// <summary>
/// A model's forward without gradient recording runs oneDNN's convolutions (fast, and right on this machine), and
/// only that forward: oneDNN is off before, after, during a forward that records gradients, and after one that throws.
/// </summary>
public sealed class GradientFreeForwardTests
{
    [TestCase("teacher-cnn")]
    [TestCase("small-cnn")]
    public void GradientFreeLogitsMatchTheGradientRecordingOnes(string architecture)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        using DistillModel model = ModelFactory.Create(architecture, random.Next());
        model.eval();
        Tensor images = tensor(RandomData.Uniform(random, 37 * 28 * 28, 1.5), [37, 1, 28, 28]);
        float[] recorded = TensorData.ToArray(model.ForwardLogits(images).detach());
        for (int pass = 0; pass < 5; pass++)
        {
            float[] free;
            using (no_grad()) free = TensorData.ToArray(model.ForwardLogits(images));
            for (int i = 0; i < free.Length; i++)
                Assert.That(free[i], Is.EqualTo(recorded[i]).Within(1e-5 * (1 + Math.Abs(recorded[i]))), $"pass {pass}, logit {i}");
        }
    }

    [Test]
    public void OneDnnIsOnOnlyInsideAGradientFreeForward()
    {
        using var scope = NewDisposeScope();
        using DistillModel model = ModelFactory.Create("small-cnn", 3);
        var seen = new List<bool>();
        var stage = (TorchSharp.torch.nn.Module<Tensor, Tensor>)model.named_modules().First(m => m.name == "stage1").module;
        var hook = stage.register_forward_hook((_, _, y) =>
        {
            seen.Add(TorchBackends.MkldnnEnabled);
            return y;
        });
        Tensor images = zeros(2, 1, 28, 28);
        model.ForwardLogits(images);
        using (no_grad()) model.ForwardLogits(images);
        model.ForwardLogits(images);
        hook.remove();
        Assert.That(seen, Is.EqualTo(new[] { false, true, false }));
        Assert.That(TorchBackends.MkldnnEnabled, Is.False);
    }

    [Test]
    public void AForwardThatThrowsLeavesOneDnnOff()
    {
        using var scope = NewDisposeScope();
        using DistillModel model = ModelFactory.Create("small-cnn", 3);
        using (no_grad())
            Assert.Throws<ArgumentException>(() => model.ForwardLogits(zeros(2, 3, 28, 28)));
        Assert.That(TorchBackends.MkldnnEnabled, Is.False);
    }
}
