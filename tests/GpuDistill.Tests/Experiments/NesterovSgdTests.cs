using GpuDistill.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Experiments;

/// <summary>The trainer's SGD matches torch.optim.SGD (Nesterov, weight decay) step for step, and its state round-trips.</summary>
public sealed class NesterovSgdTests
{
    [Test]
    public void MatchesTorchSgd()
    {
        manual_seed(11);
        using var scope = NewDisposeScope();
        var ours = nn.Linear(6, 3);
        var theirs = nn.Linear(6, 3);
        theirs.load_state_dict(ours.state_dict());
        var sgd = new NesterovSgd(ours.parameters(), 0.1, 0.9, 5e-4);
        var reference = optim.SGD(theirs.parameters(), 0.1, 0.9, weight_decay: 5e-4, nesterov: true);
        Tensor x = randn(8, 6), y = randint(0, 3, [8]);
        for (int step = 0; step < 5; step++)
        {
            sgd.ZeroGrad();
            nn.functional.cross_entropy(ours.forward(x), y).backward();
            sgd.Step();
            reference.zero_grad();
            nn.functional.cross_entropy(theirs.forward(x), y).backward();
            reference.step();
        }
        foreach ((Tensor a, Tensor b) in ours.parameters().Zip(theirs.parameters()))
            Assert.That(a.allclose(b, rtol: 1e-5, atol: 1e-6), Is.True);
    }

    [Test]
    public void StateRoundTrips()
    {
        manual_seed(12);
        using var scope = NewDisposeScope();
        var model = nn.Linear(4, 2);
        var sgd = new NesterovSgd(model.parameters(), 0.1, 0.9, 0);
        model.forward(randn(5, 4)).sum().backward();
        sgd.Step();
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true)) sgd.Save(writer);

        var restored = new NesterovSgd(model.parameters(), 0.1, 0.9, 0);
        stream.Position = 0;
        using (var reader = new BinaryReader(stream)) restored.Load(reader);
        // Same state, same next step.
        var before = model.parameters().Select(p => p.detach().clone()).ToArray();
        sgd.Step();
        var afterOriginal = model.parameters().Select(p => p.detach().clone()).ToArray();
        using (no_grad()) foreach ((var p, var b) in model.parameters().Zip(before)) p.copy_(b);
        restored.Step();
        foreach ((Tensor a, Tensor b) in model.parameters().Zip(afterOriginal))
            Assert.That(a.allclose(b), Is.True);
    }
}
