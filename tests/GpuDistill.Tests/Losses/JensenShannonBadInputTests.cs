using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to <see cref="GpuDistill.Losses.JensenShannon"/> gets an ArgumentException naming the argument.</summary>
public sealed class JensenShannonBadInputTests
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private static Tensor Jsd(Tensor s, Tensor t, double temperature = 2.0, double beta = 0.5, Tensor? labels = null) =>
        GpuDistill.Losses.JensenShannon(s, t, temperature, beta, labels, device: TestDevices.Get(AcceleratorKind.Cpu));

    [Test] public void ShapeMismatch() => ArgumentAssert.Rejects(() => Jsd(Logits(4, 5), Logits(3, 5)), "teacher", "shape");
    [Test] public void RankNotTwo() => ArgumentAssert.Rejects(() => Jsd(randn(20), randn(20)), "student", "rank 2");
    [Test] public void ZeroRows() => ArgumentAssert.Rejects(() => Jsd(zeros(0, 5), zeros(0, 5)), "student", "empty");
    [Test] public void NullTeacher() => Assert.That(() => Jsd(Logits(), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("teacher"));

    [TestCase(0.0)]
    [TestCase(-2.0)]
    [TestCase(double.NaN)]
    [TestCase(double.NegativeInfinity)]
    public void BadTemperature(double temperature) =>
        ArgumentAssert.Rejects(() => Jsd(Logits(), Logits(), temperature), "temperature", "> 0");

    [TestCase(-0.1)]
    [TestCase(1.1)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BetaOutsideTheUnitInterval(double beta) =>
        ArgumentAssert.Rejects(() => Jsd(Logits(), Logits(), 2.0, beta), "beta", "[0, 1]");

    [Test]
    public void LabelOutOfRange() =>
        ArgumentAssert.Rejects(() => Jsd(Logits(), Logits(), 2.0, 0.5, tensor(new int[] { 0, 9, 1, 2 })), "labels", "outside [0, 5)");

    [Test]
    public void LabelsOfWrongRank() =>
        ArgumentAssert.Rejects(() => Jsd(Logits(), Logits(), 2.0, 0.5, zeros(4, 1, ScalarType.Int64)), "labels", "shape [4]");

    [TestCase(float.NaN, "student", 0.5)]
    [TestCase(float.PositiveInfinity, "student", 0.0)]
    [TestCase(float.NegativeInfinity, "teacher", 0.5)]
    [TestCase(float.NegativeInfinity, "teacher", 1.0)]
    public void NonFiniteLogits(float bad, string argument, double beta)
    {
        Tensor s = Logits(), t = Logits();
        (argument == "student" ? s : t)[1, 4] = tensor(bad);
        ArgumentAssert.Rejects(() => Jsd(s, t, 2.0, beta), argument, "finite");
    }
}
