using GpuDistill.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Models;

[TestFixture]
public sealed class SmokeTrainingTests
{
    [TestCase("small-cnn")]
    [TestCase("mlp")]
    public void StudentFitsSixtyFourRandomExamples(string name)
    {
        const int maxSteps = 40;
        using DistillModel model = ModelFactory.Create(name, 11);
        model.train();
        using var generator = new Generator(5);
        using Tensor x = randn([64, 1, 28, 28], generator: generator);
        using Tensor y = randint(0, 10, [64], generator: generator);
        using var optimizer = optim.Adam(model.parameters(), lr: 0.01);

        double first = 0, last = 0;
        int step = 0;
        // Stops once the loss has halved: the point is that gradients reach every layer, not a converged fit.
        for (; step < maxSteps && !(step > 0 && last < first / 2); step++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            Tensor loss = nn.functional.cross_entropy(model.ForwardLogits(x), y);
            loss.backward();
            optimizer.step();
            double value = loss.item<float>();
            if (step == 0) first = value;
            last = value;
        }

        TestContext.Out.WriteLine($"{name}: loss {first:F3} -> {last:F3} in {step} steps");
        Assert.That(last, Is.LessThan(first / 2));
    }
}
