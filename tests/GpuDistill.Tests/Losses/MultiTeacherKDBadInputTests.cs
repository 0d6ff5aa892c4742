using GpuDistill.Compute;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to multi-teacher KD gets an ArgumentException that names the argument and what was expected.</summary>
public sealed class MultiTeacherKDBadInputTests
{
    private static Tensor Logits(int rows = 4, int classes = 5) => randn(rows, classes);

    private static Tensor Teachers(int count = 2, int rows = 4, int classes = 5) => randn(count, rows, classes);

    private static Tensor Labels(params long[] labels) => tensor(labels);

    private static Tensor Kd(Tensor s, Tensor t, double temperature = 2.0, MultiTeacherWeights? weights = null,
        Tensor? labels = null, AcceleratorKind kind = AcceleratorKind.Cpu) =>
        GpuDistill.Losses.MultiTeacherKD(s, t, temperature, weights ?? MultiTeacherWeights.Uniform, labels,
            TestDevices.Get(kind));

    [Test] public void NegativeWeight() => ArgumentAssert.Rejects(() => MultiTeacherWeights.Fixed(1, -0.5), "weights", ">= 0");
    [Test] public void NaNWeight() => ArgumentAssert.Rejects(() => MultiTeacherWeights.Fixed(double.NaN, 1), "weights", "finite");
    [Test] public void InfiniteWeight() => ArgumentAssert.Rejects(() => MultiTeacherWeights.Fixed(1, double.PositiveInfinity), "weights", "finite");
    [Test] public void AllZeroWeights() => ArgumentAssert.Rejects(() => MultiTeacherWeights.Fixed(0, 0), "weights", "positive");
    [Test] public void NoWeights() => ArgumentAssert.Rejects(() => MultiTeacherWeights.Fixed(), "weights", "one weight per teacher");
    [Test]
    public void NullWeights() =>
        Assert.Throws<ArgumentNullException>(() => GpuDistill.Losses.MultiTeacherKD(Logits(), Teachers(), 2.0, null!));

    [Test]
    public void WeightCountNotTeacherCount() =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(3), weights: MultiTeacherWeights.Fixed(1, 2)), "weights", "one per teacher (3");

    [Test] public void TeachersOfRankTwo() => ArgumentAssert.Rejects(() => Kd(Logits(), Logits()), "teachers", "rank 3");
    [Test] public void TeacherRowsMismatch() => ArgumentAssert.Rejects(() => Kd(Logits(4, 5), Teachers(2, 3, 5)), "teachers", "[K, 4, 5]");
    [Test] public void TeacherClassesMismatch() => ArgumentAssert.Rejects(() => Kd(Logits(4, 5), Teachers(2, 4, 6)), "teachers", "[K, 4, 5]");
    [Test] public void NoTeachers() => ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(0)), "teachers", "empty");
    [Test] public void StudentOfRankThree() => ArgumentAssert.Rejects(() => Kd(Teachers(), Teachers()), "student", "rank 2");
    [Test] public void ZeroClasses() => ArgumentAssert.Rejects(() => Kd(zeros(4, 0), zeros(2, 4, 0)), "student", "empty");
    [Test] public void StudentWrongDtype() => ArgumentAssert.Rejects(() => Kd(Logits().to_type(ScalarType.Float64), Teachers()), "student", "float32");
    [Test] public void TeachersWrongDtype() => ArgumentAssert.Rejects(() => Kd(Logits(), Teachers().to_type(ScalarType.Float16)), "teachers", "float32");

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadTemperature(double temperature) => ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), temperature), "temperature", "> 0");

    [Test]
    public void ConfidenceWithoutLabels() =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), weights: MultiTeacherWeights.Confidence), "labels", "required");

    [TestCase(5L)]
    [TestCase(-1L)]
    [TestCase(-100L)]
    [TestCase(4294967298L)] // 2^32 + 2: wraps to 2 if narrowed to int32 before the check
    public void LabelOutOfRange(long label) =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), weights: MultiTeacherWeights.Confidence, labels: Labels(0, 1, label, 2)),
            "labels", "outside [0, 5)");

    [Test]
    public void LabelsOfWrongLength() =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), weights: MultiTeacherWeights.Confidence, labels: Labels(0, 1)), "labels", "shape [4]");

    [Test]
    public void LabelsOfFloatType() =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), weights: MultiTeacherWeights.Confidence,
            labels: tensor(new float[] { 0, 1, 2, 3 })), "labels", "int64");

    [Test]
    public void LabelsAreCheckedWithFixedWeightsToo() =>
        ArgumentAssert.Rejects(() => Kd(Logits(), Teachers(), labels: Labels(0, 1, 9, 2)), "labels", "outside [0, 5)");

    [TestCase(float.NaN, "student", 0)]
    [TestCase(float.PositiveInfinity, "student", 0)]
    [TestCase(float.NegativeInfinity, "student", 0)]
    [TestCase(float.NaN, "teachers", 1)]
    [TestCase(float.NegativeInfinity, "teachers", 0)]
    [TestCase(float.PositiveInfinity, "teachers", 1)]
    public void NonFiniteLogits(float bad, string argument, int teacher)
    {
        Tensor s = Logits(), t = Teachers();
        if (argument == "student") s[2, 3] = tensor(bad);
        else t[teacher, 2, 3] = tensor(bad);
        // The ILGPU kernel and the host backend each find the bad row themselves (a NaN row loss).
        foreach (AcceleratorKind kind in new[] { AcceleratorKind.Cpu, AcceleratorKind.Simd })
        {
            ArgumentAssert.Rejects(() => Kd(s, t, kind: kind), argument, "finite");
            // A teacher left out by a zero weight is still checked.
            if (argument == "teachers")
            {
                var weights = teacher == 0 ? MultiTeacherWeights.Fixed(0, 1) : MultiTeacherWeights.Fixed(1, 0);
                ArgumentAssert.Rejects(() => Kd(s, t, weights: weights, kind: kind), argument, "finite");
            }
        }
    }

    [Test]
    public void DisposedTeachers()
    {
        Tensor t = Teachers();
        t.Dispose();
        ArgumentAssert.Rejects(() => Kd(Logits(), t), "teachers", "disposed");
    }

    [Test] public void NullStudent() => Assert.Throws<ArgumentNullException>(() => Kd(null!, Teachers()));
    [Test] public void NullTeachers() => Assert.Throws<ArgumentNullException>(() => Kd(Logits(), null!));
}
