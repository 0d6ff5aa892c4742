using GpuDistill.Compute;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Every bad input to <see cref="GpuDistill.Losses.SoftmaxKLBothSides"/> and <see cref="GpuDistill.Losses.ProbabilityL1"/>
/// gets an ArgumentException naming the argument.
/// </summary>
[TestFixture("kl")]
[TestFixture("l1")]
public sealed class TwoSidedBadInputTests(string loss)
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private Tensor Run(Tensor s, Tensor t, double temperature = 2.0, RowReduction reduction = RowReduction.BatchMean)
    {
        ComputeDevice device = TestDevices.Get(AcceleratorKind.Cpu);
        return loss == "kl"
            ? GpuDistill.Losses.SoftmaxKLBothSides(s, t, temperature, reduction, device)
            : GpuDistill.Losses.ProbabilityL1(s, t, temperature, reduction, device);
    }

    [Test] public void ShapeMismatch() => ArgumentAssert.Rejects(() => Run(Logits(4, 5), Logits(4, 6)), "teacher", "shape");
    [Test] public void RankNotTwo() => ArgumentAssert.Rejects(() => Run(randn(4, 5, 2), randn(4, 5, 2)), "student", "rank 2");
    [Test] public void ZeroRows() => ArgumentAssert.Rejects(() => Run(zeros(0, 5), zeros(0, 5)), "student", "empty");
    [Test] public void WrongDtype() => ArgumentAssert.Rejects(() => Run(Logits(), Logits().to_type(ScalarType.Float64)), "teacher", "float32");
    [Test] public void NullTeacher() => Assert.That(() => Run(Logits(), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("teacher"));

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTemperature(double temperature) =>
        ArgumentAssert.Rejects(() => Run(Logits(), Logits(), temperature), "temperature", "> 0");

    [Test]
    public void UndefinedReduction() =>
        ArgumentAssert.Rejects(() => Run(Logits(), Logits(), 2.0, (RowReduction)7), "reduction", "BatchMean");

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    [TestCase(float.NaN, "teacher")]
    public void NonFiniteLogits(float bad, string argument)
    {
        Tensor s = Logits(), t = Logits();
        (argument == "student" ? s : t)[2, 3] = tensor(bad);
        ArgumentAssert.Rejects(() => Run(s, t), argument, "finite");
    }
}
