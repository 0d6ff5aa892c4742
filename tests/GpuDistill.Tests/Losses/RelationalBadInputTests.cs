using GpuDistill.Kernels.Relations.CorrelationCongruence;
using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Every bad input to the pairwise relation losses (SP, RKD distance and angle, both CC definitions) gets an
/// ArgumentException naming the argument and the rule, before any kernel runs.
/// </summary>
public sealed class RelationalBadInputTests
{
    public static IEnumerable<TestCaseData> PairLosses()
    {
        yield return Case("SimilarityPreserving", (s, t) => GpuDistill.Losses.SimilarityPreserving(s, t, Cpu), 1);
        yield return Case("RelationalDistance", (s, t) => GpuDistill.Losses.RelationalDistance(s, t, Cpu), 2);
        yield return Case("RelationalAngle", (s, t) => GpuDistill.Losses.RelationalAngle(s, t, Cpu), 1);
        yield return Case("CorrelationCongruenceRepDistiller", (s, t) => GpuDistill.Losses.CorrelationCongruenceRepDistiller(s, t, Cpu), 2);
        yield return Case("CorrelationCongruenceKernel", (s, t) => GpuDistill.Losses.CorrelationCongruenceKernel(s, t,
            CorrelationKernel.Gaussian, device: Cpu), 1);

        static TestCaseData Case(string name, Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
            new TestCaseData(loss, minimumBatch).SetArgDisplayNames(name);
    }

    private static ComputeDevice Cpu => TestDevices.Get(AcceleratorKind.Cpu);

    [TestCaseSource(nameof(PairLosses))]
    public void BatchMismatch(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        ArgumentAssert.Rejects(() => loss(randn(4, 5), randn(3, 5)), "teacher", "batch size of student (4)");

    [TestCaseSource(nameof(PairLosses))]
    public void RankOne(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        ArgumentAssert.Rejects(() => loss(randn(4), randn(4, 5)), "student", "rank 2 or more");

    [TestCaseSource(nameof(PairLosses))]
    public void EmptyFeatures(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        ArgumentAssert.Rejects(() => loss(randn(4, 5), zeros(4, 0)), "teacher", "empty");

    [TestCaseSource(nameof(PairLosses))]
    public void EmptyBatch(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        ArgumentAssert.Rejects(() => loss(zeros(0, 5), zeros(0, 5)), "student", "empty");

    [TestCaseSource(nameof(PairLosses))]
    public void WrongDtype(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        ArgumentAssert.Rejects(() => loss(randn(4, 5).to_type(ScalarType.Float64), randn(4, 5)), "student", "float32");

    [TestCaseSource(nameof(PairLosses))]
    public void NullTeacher(Func<Tensor, Tensor, Tensor> loss, int minimumBatch) =>
        Assert.That(() => loss(randn(4, 5), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("teacher"));

    [TestCaseSource(nameof(PairLosses))]
    public void DisposedStudent(Func<Tensor, Tensor, Tensor> loss, int minimumBatch)
    {
        Tensor s = randn(4, 5);
        s.Dispose();
        ArgumentAssert.Rejects(() => loss(s, randn(4, 5)), "student", "disposed");
    }

    [TestCaseSource(nameof(PairLosses))]
    public void TooFewExamples(Func<Tensor, Tensor, Tensor> loss, int minimumBatch)
    {
        if (minimumBatch < 2) Assert.That(loss(randn(1, 5), randn(1, 5)).item<float>(), Is.EqualTo(0f).Or.GreaterThan(0f), "B = 1 is allowed");
        else ArgumentAssert.Rejects(() => loss(randn(1, 5), randn(1, 5)), "student", "at least 2 examples");
    }

    [TestCaseSource(nameof(PairLosses))]
    public void NonFiniteValues(Func<Tensor, Tensor, Tensor> loss, int minimumBatch)
    {
        foreach ((float bad, string argument) in new[] { (float.NaN, "student"), (float.PositiveInfinity, "teacher"), (float.NegativeInfinity, "student") })
        {
            Tensor s = randn(4, 5), t = randn(4, 5);
            (argument == "student" ? s : t)[2, 3] = tensor(bad);
            ArgumentAssert.Rejects(() => loss(s, t), argument, "finite");
        }
    }

    [Test]
    public void OverflowingFeaturesAreReportedNotReturnedAsInfinity() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.SimilarityPreserving(full(3, 4, 1e30f), randn(3, 4), Cpu), "student", "overflowed");

    [Test]
    public void RepDistillerNeedsOneShape() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.CorrelationCongruenceRepDistiller(randn(4, 5), randn(4, 6), Cpu),
            "teacher", "shape of student");

    [TestCase(-0.1)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadGamma(double gamma) =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.CorrelationCongruenceKernel(randn(4, 5), randn(4, 5),
            CorrelationKernel.Gaussian, gamma, 2, Cpu), "gamma", ">= 0");

    [TestCase(0)]
    [TestCase(17)]
    public void BadOrder(int order) =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.CorrelationCongruenceKernel(randn(4, 5), randn(4, 5),
            CorrelationKernel.Gaussian, 0.4, order, Cpu), "order", "[1, 16]");

    [Test]
    public void UnknownKernel() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.CorrelationCongruenceKernel(randn(4, 5), randn(4, 5),
            (CorrelationKernel)7, device: Cpu), "kernel", "Bilinear or Gaussian");
}
