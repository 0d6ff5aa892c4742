using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to <see cref="GpuDistill.Losses.ReverseKL"/> gets an ArgumentException naming the argument.</summary>
public sealed class ReverseKLBadInputTests
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private static Tensor Rkl(Tensor s, Tensor t, double temperature = 2.0, Tensor? labels = null) =>
        GpuDistill.Losses.ReverseKL(s, t, temperature, labels, device: TestDevices.Get(AcceleratorKind.Cpu));

    [Test] public void ShapeMismatch() => ArgumentAssert.Rejects(() => Rkl(Logits(4, 5), Logits(4, 6)), "teacher", "shape");
    [Test] public void RankNotTwo() => ArgumentAssert.Rejects(() => Rkl(randn(4, 5, 2), randn(4, 5, 2)), "student", "rank 2");
    [Test] public void ZeroClasses() => ArgumentAssert.Rejects(() => Rkl(zeros(4, 0), zeros(4, 0)), "student", "empty");
    [Test] public void WrongDtype() => ArgumentAssert.Rejects(() => Rkl(Logits(), Logits().to_type(ScalarType.Float64)), "teacher", "float32");
    [Test] public void NullStudent() => Assert.That(() => Rkl(null!, Logits()), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("student"));

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTemperature(double temperature) =>
        ArgumentAssert.Rejects(() => Rkl(Logits(), Logits(), temperature), "temperature", "> 0");

    [TestCase(5)]
    [TestCase(-1)]
    public void LabelOutOfRange(long label) =>
        ArgumentAssert.Rejects(() => Rkl(Logits(), Logits(), 2.0, tensor(new long[] { 0, 1, label, 2 })), "labels", "outside [0, 5)");

    [Test]
    public void LabelsOfWrongLength() =>
        ArgumentAssert.Rejects(() => Rkl(Logits(), Logits(), 2.0, tensor(new long[] { 0, 1 })), "labels", "shape [4]");

    [Test]
    public void LabelsOfFloatType() =>
        ArgumentAssert.Rejects(() => Rkl(Logits(), Logits(), 2.0, tensor(new float[] { 0, 1, 2, 3 })), "labels", "int64");

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    [TestCase(float.NaN, "teacher")]
    public void NonFiniteLogits(float bad, string argument)
    {
        Tensor s = Logits(), t = Logits();
        (argument == "student" ? s : t)[2, 3] = tensor(bad);
        ArgumentAssert.Rejects(() => Rkl(s, t), argument, "finite");
    }
}
