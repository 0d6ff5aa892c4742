using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input gets an ArgumentException (or subclass) that names the argument and what was expected.</summary>
public sealed class SoftmaxKLBadInputTests
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private static void AssertRejected(Action call, string argument, string expectedText)
    {
        var ex = Assert.Catch<ArgumentException>(call);
        Assert.Multiple(() =>
        {
            Assert.That(ex!.ParamName, Is.EqualTo(argument), ex.Message);
            Assert.That(ex.Message, Does.Contain(expectedText).IgnoreCase);
        });
    }

    private static Tensor Kl(Tensor s, Tensor t, double temperature = 2.0, Tensor? labels = null, double hard = 0) =>
        GpuDistill.Losses.SoftmaxKL(s, t, temperature, labels, hardWeight: hard, device: TestDevices.Get(AcceleratorKind.Cpu));

    [Test] public void ShapeMismatch() => AssertRejected(() => Kl(Logits(4, 5), Logits(4, 6)), "teacher", "shape");
    [Test] public void BatchMismatch() => AssertRejected(() => Kl(Logits(4, 5), Logits(3, 5)), "teacher", "shape");
    [Test] public void RankNotTwo() => AssertRejected(() => Kl(randn(4, 5, 2), randn(4, 5, 2)), "student", "rank 2");
    [Test] public void ZeroClasses() => AssertRejected(() => Kl(zeros(4, 0), zeros(4, 0)), "student", "empty");
    [Test] public void ZeroRows() => AssertRejected(() => Kl(zeros(0, 5), zeros(0, 5)), "student", "empty");

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTemperature(double temperature) =>
        AssertRejected(() => Kl(Logits(), Logits(), temperature), "temperature", "> 0");

    [TestCase(5)]
    [TestCase(-1)]
    [TestCase(4294967296L)] // 2^32: read as int32 it would be 0, a valid label
    public void LabelOutOfRange(long label) =>
        AssertRejected(() => Kl(Logits(), Logits(), 2.0, tensor(new long[] { 0, 1, label, 2 }), hard: 0.5), "labels", "outside [0, 5)");

    [Test]
    public void LabelsOfWrongLength() =>
        AssertRejected(() => Kl(Logits(), Logits(), 2.0, tensor(new long[] { 0, 1 }), hard: 0.5), "labels", "shape [4]");

    [Test]
    public void LabelsOfFloatType() =>
        AssertRejected(() => Kl(Logits(), Logits(), 2.0, tensor(new float[] { 0, 1, 2, 3 }), hard: 0.5), "labels", "int64");

    [Test]
    public void HardWeightWithoutLabels() => AssertRejected(() => Kl(Logits(), Logits(), 2.0, null, hard: 0.5), "labels", "required");

    [Test]
    public void NegativeWeight() =>
        AssertRejected(() => GpuDistill.Losses.SoftmaxKL(Logits(), Logits(), 2.0, softWeight: -1), "softWeight", ">= 0");

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    public void NonFiniteLogits(float bad, string argument)
    {
        Tensor s = Logits(), t = Logits();
        (argument == "student" ? s : t)[2, 3] = tensor(bad);
        AssertRejected(() => Kl(s, t), argument, "finite");
    }

    [Test]
    public void WrongDtype() => AssertRejected(() => Kl(Logits().to_type(ScalarType.Float64), Logits()), "student", "float32");

    [Test]
    public void DisposedTensor()
    {
        Tensor s = Logits();
        s.Dispose();
        AssertRejected(() => Kl(s, Logits()), "student", "disposed");
    }

    [Test]
    public void NullTensor() => Assert.Throws<ArgumentNullException>(() => Kl(null!, Logits()));
}
