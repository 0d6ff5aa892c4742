using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Every bad input to <see cref="GpuDistill.Losses.ProbabilisticKnowledgeTransfer"/> gets an ArgumentException
/// naming the argument and what was expected.
/// </summary>
public sealed class ProbabilisticKnowledgeTransferBadInputTests
{
    private static Tensor Features(long b = 6, long d = 5) => randn(b, d);

    private static Tensor Pkt(Tensor s, Tensor t, double eps = 1e-7) => GpuDistill.Losses.ProbabilisticKnowledgeTransfer(s, t, eps);

    [Test] public void StudentRankOne() => ArgumentAssert.Rejects(() => Pkt(randn(6), Features()), "student", "rank 2 or more");
    [Test] public void TeacherRankZero() => ArgumentAssert.Rejects(() => Pkt(Features(), tensor(1f)), "teacher", "rank 2 or more");
    [Test] public void BatchMismatch() => ArgumentAssert.Rejects(() => Pkt(Features(b: 6), randn(5, 2, 3)), "teacher", "batch size of student (6)");
    [Test] public void StudentFloat64() => ArgumentAssert.Rejects(() => Pkt(Features().to_type(ScalarType.Float64), Features()), "student", "float32");
    [Test] public void TeacherInteger() => ArgumentAssert.Rejects(() => Pkt(Features(), ones(6, 5, ScalarType.Int32)), "teacher", "float32");
    [Test] public void EmptyBatch() => ArgumentAssert.Rejects(() => Pkt(zeros(0, 5), zeros(0, 5)), "student", "empty");
    [Test] public void NoTeacherFeatures() => ArgumentAssert.Rejects(() => Pkt(Features(), zeros(6, 3, 0)), "teacher", "empty");
    [Test] public void NullStudent() => Assert.That(() => Pkt(null!, Features()), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("student"));
    [Test] public void NullTeacher() => Assert.That(() => Pkt(Features(), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("teacher"));

    [TestCase(0.0)]
    [TestCase(-1e-7)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    [TestCase(1e-40)]
    [TestCase(1e39)]
    public void BadEpsilon(double eps) => ArgumentAssert.Rejects(() => Pkt(Features(), Features(), eps), "eps", "> 0");

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    [TestCase(float.NaN, "teacher")]
    public void NonFiniteFeatures(float bad, string argument)
    {
        // The definition's NaN-to-0 rule would turn these into a finite loss: they must be refused first.
        Tensor s = Features().requires_grad_(true), t = Features(d: 9);
        using (no_grad())
            (argument == "student" ? s : t)[3, 4] = tensor(bad);
        ArgumentAssert.Rejects(() => Pkt(s, t), argument, "finite");
        ArgumentAssert.Rejects(() => Pkt(s, t), argument, "first in example 3");
    }
}
