using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to <see cref="GpuDistill.Losses.DecoupledKD"/> gets an ArgumentException naming the argument.</summary>
public sealed class DecoupledKDBadInputTests
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private static Tensor Labels() => tensor(new long[] { 0, 4, 2, 1 });

    private static Tensor Dkd(Tensor s, Tensor t, Tensor? labels, double temperature = 4, double alpha = 1,
        double beta = 8, double warmupWeight = 1) =>
        GpuDistill.Losses.DecoupledKD(s, t, labels!, temperature, alpha, beta, warmupWeight,
            device: TestDevices.Get(AcceleratorKind.Cpu));

    [Test]
    public void LabelsAreRequired() =>
        Assert.That(() => Dkd(Logits(), Logits(), null), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("labels"));

    [Test] public void ShapeMismatch() => ArgumentAssert.Rejects(() => Dkd(Logits(4, 5), Logits(4, 4), Labels()), "teacher", "shape");
    [Test] public void RankNotTwo() => ArgumentAssert.Rejects(() => Dkd(randn(4, 5, 1), randn(4, 5, 1), Labels()), "student", "rank 2");
    [Test] public void WrongDtype() => ArgumentAssert.Rejects(() => Dkd(Logits().to_type(ScalarType.Float16), Logits(), Labels()), "student", "float32");

    [TestCase(0.0)]
    [TestCase(-4.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTemperature(double temperature) =>
        ArgumentAssert.Rejects(() => Dkd(Logits(), Logits(), Labels(), temperature), "temperature", "> 0");

    [TestCase("alpha", -1.0)]
    [TestCase("alpha", double.NaN)]
    [TestCase("beta", -0.5)]
    [TestCase("beta", double.PositiveInfinity)]
    [TestCase("warmupWeight", -0.1)]
    [TestCase("warmupWeight", double.NaN)]
    public void BadWeight(string argument, double value) =>
        ArgumentAssert.Rejects(() => Dkd(Logits(), Logits(), Labels(),
            alpha: argument == "alpha" ? value : 1, beta: argument == "beta" ? value : 8,
            warmupWeight: argument == "warmupWeight" ? value : 1), argument, ">= 0");

    [TestCase(5)]
    [TestCase(-1)]
    public void LabelOutOfRange(long label) =>
        ArgumentAssert.Rejects(() => Dkd(Logits(), Logits(), tensor(new long[] { 0, label, 1, 2 })), "labels", "outside [0, 5)");

    [Test]
    public void LabelsOfWrongLength() =>
        ArgumentAssert.Rejects(() => Dkd(Logits(), Logits(), tensor(new long[] { 0, 1, 2 })), "labels", "shape [4]");

    [Test]
    public void LabelsOfFloatType() =>
        ArgumentAssert.Rejects(() => Dkd(Logits(), Logits(), tensor(new double[] { 0, 1, 2, 3 })), "labels", "int64");

    [TestCase(float.NaN, "student", 3)]
    [TestCase(float.PositiveInfinity, "student", 0)]
    [TestCase(float.NegativeInfinity, "teacher", 2)]
    [TestCase(float.NegativeInfinity, "teacher", 3)]
    public void NonFiniteLogits(float bad, string argument, int column)
    {
        // Row 2's target is class 2: the bad value sits on the target or on a non-target class.
        Tensor s = Logits(), t = Logits();
        (argument == "student" ? s : t)[2, column] = tensor(bad);
        ArgumentAssert.Rejects(() => Dkd(s, t, Labels()), argument, "finite");
    }
}
