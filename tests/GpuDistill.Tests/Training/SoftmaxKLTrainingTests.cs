using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Training;

/// <summary>A tiny student learns from a fixed teacher through the fused loss alone.</summary>
public sealed class SoftmaxKLTrainingTests
{
    [Test]
    public void StudentKLFallsByMoreThanHalf()
    {
        manual_seed(7);
        using var scope = NewDisposeScope();
        var device = TestDevices.Get(AcceleratorKind.Cpu);
        const int features = 16, classes = 10, batch = 64;
        var teacher = nn.Sequential(nn.Linear(features, 32), nn.Tanh(), nn.Linear(32, classes));
        var student = nn.Linear(features, classes);
        var optimizer = optim.Adam(student.parameters(), lr: 0.01);
        Tensor inputs = randn(512, features);
        Tensor teacherLogits;
        using (no_grad()) teacherLogits = teacher.forward(inputs) * 3;

        float first = 0, last = 0;
        for (int step = 0; step < 300; step++)
        {
            using var stepScope = NewDisposeScope();
            Tensor index = randint(0, 512, [batch], dtype: ScalarType.Int64);
            optimizer.zero_grad();
            Tensor loss = GpuDistill.Losses.SoftmaxKL(student.forward(inputs[index]), teacherLogits[index], 2.0, device: device);
            loss.backward();
            optimizer.step();
            if (step < 10) first += loss.item<float>() / 10;
            if (step >= 290) last += loss.item<float>() / 10;
        }
        TestContext.Out.WriteLine($"KL first 10 steps {first:F4}, last 10 steps {last:F4}");
        Assert.That(last, Is.LessThan(first / 2));
        Assert.That(teacher.parameters().All(p => p.grad is null), "the teacher received no gradient");
    }
}
