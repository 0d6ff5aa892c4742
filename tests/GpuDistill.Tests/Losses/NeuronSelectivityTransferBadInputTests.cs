using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Every bad input to <see cref="GpuDistill.Losses.NeuronSelectivityTransfer"/> gets an ArgumentException naming the
/// argument and what was expected.
/// </summary>
public sealed class NeuronSelectivityTransferBadInputTests
{
    private static Tensor Map(long b = 4, long c = 3, long h = 5, long w = 5) => randn(b, c, h, w);

    private static Tensor Nst(Tensor s, Tensor t) => GpuDistill.Losses.NeuronSelectivityTransfer(s, t);

    [Test] public void StudentRankThree() => ArgumentAssert.Rejects(() => Nst(randn(4, 3, 25), Map()), "student", "rank 4");
    [Test] public void TeacherRankTwo() => ArgumentAssert.Rejects(() => Nst(Map(), randn(4, 75)), "teacher", "rank 4");
    [Test] public void BatchMismatch() => ArgumentAssert.Rejects(() => Nst(Map(b: 4), Map(b: 3)), "teacher", "batch size of student (4)");
    [Test] public void StudentFloat64() => ArgumentAssert.Rejects(() => Nst(Map().to_type(ScalarType.Float64), Map()), "student", "float32");
    [Test] public void TeacherFloat16() => ArgumentAssert.Rejects(() => Nst(Map(), Map().to_type(ScalarType.Float16)), "teacher", "float32");
    [Test] public void EmptyBatch() => ArgumentAssert.Rejects(() => Nst(zeros(0, 3, 5, 5), zeros(0, 3, 5, 5)), "student", "empty");
    [Test] public void NoTeacherChannels() => ArgumentAssert.Rejects(() => Nst(Map(), zeros(4, 0, 5, 5)), "teacher", "empty");
    [Test] public void ZeroWidth() => ArgumentAssert.Rejects(() => Nst(zeros(4, 3, 5, 0), Map()), "student", "empty");
    [Test] public void TeacherTermsOfAnotherCount() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.NeuronSelectivityTransfer(Map(), Map(), zeros(3)), "teacherTerms", "one float32 value per image (4)");
    [Test] public void TeacherTermsFloat64() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.NeuronSelectivityTransfer(Map(), Map(), zeros(4, ScalarType.Float64)), "teacherTerms", "float32");
    [Test] public void TeacherRowNormsOfAnotherWidth() =>
        ArgumentAssert.Rejects(() => GpuDistill.Losses.NeuronSelectivityTransfer(Map(), Map(), zeros(4), zeros(4, 5)), "teacherRowNorms", "float32 [4, 3]");
    [Test] public void NullStudent() => Assert.That(() => Nst(null!, Map()), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("student"));
    [Test] public void NullTeacher() => Assert.That(() => Nst(Map(), null!), Throws.ArgumentNullException.With.Property("ParamName").EqualTo("teacher"));

    [Test]
    public void DisposedStudent()
    {
        Tensor s = Map();
        s.Dispose();
        ArgumentAssert.Rejects(() => Nst(s, Map()), "student", "disposed");
    }

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    [TestCase(float.NaN, "teacher")]
    public void NonFiniteFeatures(float bad, string argument)
    {
        Tensor s = Map().requires_grad_(true), t = Map(c: 6, h: 3, w: 3);
        using (no_grad())
            (argument == "student" ? s : t)[2, 1, 2, 0] = tensor(bad);
        ArgumentAssert.Rejects(() => Nst(s, t), argument, "finite");
        ArgumentAssert.Rejects(() => Nst(s, t), argument, "first in example 2");
    }
}
