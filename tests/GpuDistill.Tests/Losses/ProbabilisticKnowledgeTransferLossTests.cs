using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.ProbabilisticKnowledgeTransfer"/> through TorchSharp autograd against the float64
/// reference: with an upstream gradient of 2.5 the student gets 2.5 times the reference gradient and the teacher
/// nothing, on odd shapes, different feature sizes, inputs of rank above 2, extreme scales and degenerate batches.
/// </summary>
public sealed class ProbabilisticKnowledgeTransferLossTests
{
    private const double UpstreamGradient = 2.5;

    /// <summary>
    /// Gradient error allowed relative to the gradient's largest entry: float32 Gram matrix, normalisation and
    /// log-ratios, summed in a different order from the reference.
    /// </summary>
    private const double GradientTolerance = 1e-4;

    [TestCase(1, 3, 5, 1e-7)]
    [TestCase(2, 3, 5, 1e-7)]
    [TestCase(3, 7, 7, 1e-7)]
    [TestCase(37, 16, 40, 1e-7)]
    [TestCase(37, 16, 40, 1e-3)]
    [TestCase(128, 32, 128, 1e-7)]
    [TestCase(64, 8, 1, 1e-7)]
    [TestCase(5, 300, 2, 1e-7)]
    [TestCase(9, 4, 6, 0.5)]
    public void MatchesReference(int batch, int studentDim, int teacherDim, double eps)
    {
        // The student has enough dimensions for its batch that no two random examples are nearly opposite: where
        // 1 + cos is small, float32 resolves P_s only to ~6e-8 / (1 + cos) relative, and the gradient, which weighs
        // pairs by P_t / P_s, inherits that (see OppositeExamplesStayFinite). In 8 dimensions the closest of the 2016
        // pairs of 64 examples typically has 1 + cos ~ 0.1; in 3 it can be 1e-4, which measured 2e-4 here.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, batch * studentDim, 3);
        float[] t = RandomData.Uniform(random, batch * teacherDim, 3);
        AssertMatchesReference(s, [batch, studentDim], t, [batch, teacherDim], eps);
    }

    [Test]
    public void FeaturesOfAnyRankAreFlattenedPerExample()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 7 * 13 * 5 * 9, 3);
        float[] t = RandomData.Uniform(random, 7 * 6 * 10, 3);
        AssertMatchesReference(s, [7, 13, 5, 9], t, [7, 6, 10]);
    }

    [Test]
    public void MatchesReferenceOnNonNegativeFeatures()
    {
        // Post-ReLU features: every cosine is positive, so the probabilities are flatter and the log-ratios smaller.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 11 * 20, 3).Select(v => Math.Max(v, 0)).ToArray();
        float[] t = RandomData.Uniform(random, 11 * 30, 3).Select(v => Math.Max(v, 0)).ToArray();
        AssertMatchesReference(s, [11, 20], t, [11, 30]);
    }

    [Test]
    public void ExtremeScalesPerExampleMatchTheReference()
    {
        // Each example at its own scale: far below eps (1e-30: the example scales to ~0), near it (1e-7), ordinary,
        // and huge (1e12, 1e30: plain float32 norms overflow from ~1e19). Each example's gradient is compared at its
        // own scale, since they span 60 orders of magnitude.
        double[] scales = [1e-30, 1e-7, 1, 1e12, 1e30];
        const int studentDim = 6, teacherDim = 4;
        Random random = RandomData.NewRandom();
        float[] s = Scaled(RandomData.Uniform(random, scales.Length * studentDim, 3), scales);
        float[] t = Scaled(RandomData.Uniform(random, scales.Length * teacherDim, 3), scales.Reverse().ToArray());

        using var scope = NewDisposeScope();
        Tensor student = tensor(s, [scales.Length, studentDim]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, tensor(t, [scales.Length, teacherDim]));
        (loss * UpstreamGradient).backward();
        (double expected, double[] gradient, double magnitude) = ProbabilisticKnowledgeTransferReference.Compute(
            ReferenceMath.ToDouble(s), scales.Length, studentDim, ReferenceMath.ToDouble(t), teacherDim);
        float[] actual = TensorData.ToArray(student.grad!);

        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            for (int b = 0; b < scales.Length; b++)
            {
                double[] scaled = gradient.AsSpan(b * studentDim, studentDim).ToArray().Select(g => g * UpstreamGradient).ToArray();
                Assert.That(Tolerance.RelativeMaxError(actual.AsSpan(b * studentDim, studentDim), scaled), Is.LessThan(GradientTolerance),
                    $"example {b} (scale {scales[b]:G})");
            }
        });
    }

    [Test]
    public void ZeroExamplesAreFiniteAndMatchTheReference()
    {
        // A zero example scales to 0 (0 / (0 + eps)), so K' is 1/2 against every other example; its gradient is
        // gX^ / eps, large but finite.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 6 * 5, 3);
        float[] t = RandomData.Uniform(random, 6 * 8, 3);
        Array.Clear(s, 2 * 5, 5);
        Array.Clear(t, 4 * 8, 8);
        AssertMatchesReference(s, [6, 5], t, [6, 8]);
    }

    [TestCase(true, false)]
    [TestCase(false, true)]
    [TestCase(true, true)]
    public void AllZeroFeaturesAreFiniteAndMatchTheReference(bool zeroStudent, bool zeroTeacher)
    {
        Random random = RandomData.NewRandom();
        float[] s = zeroStudent ? new float[4 * 5] : RandomData.Uniform(random, 4 * 5, 3);
        float[] t = zeroTeacher ? new float[4 * 7] : RandomData.Uniform(random, 4 * 7, 3);
        AssertMatchesReference(s, [4, 5], t, [4, 7]);
    }

    [Test]
    public void AllExamplesEqualMatchesTheReference()
    {
        Random random = RandomData.NewRandom();
        float[] row = RandomData.Uniform(random, 9, 3);
        float[] s = Enumerable.Repeat(row, 6).SelectMany(r => r).ToArray();
        float[] t = RandomData.Uniform(random, 6 * 4, 3);
        // Equal examples have equal similarities, so each gets c x^ back and the normalisation leaves only
        // c x eps / (n + eps)^3: an eps-sized gradient that float32 resolves only to ~1e-7 of an ordinary batch's.
        // Measure against 1e-2 of what a batch of distinct examples gets (Tolerance.GradientFloor's rule).
        double[] distinct = ReferenceMath.ToDouble(RandomData.Uniform(random, 6 * 9, 3));
        double natural = UpstreamGradient * ProbabilisticKnowledgeTransferReference.Compute(
            distinct, 6, 9, ReferenceMath.ToDouble(t), 4).Gradient.Max(Math.Abs);
        AssertMatchesReference(s, [6, 9], t, [6, 4], floor: Tolerance.GradientFloor(natural));
    }

    [Test]
    public void ABatchOfOneGivesZeroLossAndGradient()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = tensor(RandomData.Uniform(random, 12, 3), [1, 3, 4]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, tensor(RandomData.Uniform(random, 5, 3), [1, 5]));
        (loss * UpstreamGradient).backward();
        Assert.Multiple(() =>
        {
            Assert.That(loss.item<float>(), Is.EqualTo(0));
            Assert.That(TensorData.ToArray(student.grad!), Is.All.EqualTo(0));
        });
    }

    [TestCase(2, 8, 1e-7)]
    [TestCase(2, 8, 1e-30)]
    [TestCase(64, 1, 1e-7)]
    [TestCase(64, 1, 1e-30)]
    public void OppositeExamplesStayFinite(int batch, int dim, double eps)
    {
        // Opposite examples (x and -x, or any two of one feature with different signs) have cosine -1, so
        // K' = (1 - ||x^_i|| ||x^_j||) / 2 is eps-sized: float32 rounding of the x^ (6e-8) is as large as it and can
        // even push it below 0 (the loss clamps it there). Float32 cannot match the float64 value in that regime, as
        // RepDistiller's float32 PyTorch code cannot; what it must do is stay finite.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, batch * dim, 3);
        for (int i = 1; i < batch; i += 2)
            for (int d = 0; d < dim; d++) s[i * dim + d] = -s[(i - 1) * dim + d];
        float[] t = RandomData.Uniform(random, batch * 3, 3);

        using var scope = NewDisposeScope();
        Tensor student = tensor(s, [batch, dim]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, tensor(t, [batch, 3]), eps);
        (loss * UpstreamGradient).backward();
        Assert.Multiple(() =>
        {
            Assert.That(float.IsFinite(loss.item<float>()), Is.True, $"loss {loss.item<float>()}");
            Assert.That(TensorData.ToArray(student.grad!), Is.All.Matches<float>(float.IsFinite));
        });
    }

    [Test]
    public void IdenticalStudentAndTeacherGiveZeroLossAndAVanishingGradient()
    {
        // P_s = P_t to the bit, so the loss is 0; the gradient is eps-sized (the eps in P + eps), far below the one
        // an unrelated teacher gives.
        Random random = RandomData.NewRandom();
        float[] x = RandomData.Uniform(random, 10 * 6, 3);
        using var scope = NewDisposeScope();
        Tensor student = tensor(x, [10, 6]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, tensor(x, [10, 6]));
        (loss * UpstreamGradient).backward();
        double matching = TensorData.ToArray(student.grad!).Max(Math.Abs);
        student.grad!.zero_();
        (GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, randn(10, 6)) * UpstreamGradient).backward();
        double unrelated = TensorData.ToArray(student.grad!).Max(Math.Abs);
        Assert.Multiple(() =>
        {
            Assert.That(loss.item<float>(), Is.EqualTo(0));
            Assert.That(matching, Is.LessThan(1e-4 * unrelated));
        });
    }

    [Test]
    public void NonContiguousStudentIsAccepted()
    {
        Random random = RandomData.NewRandom();
        float[] t = RandomData.Uniform(random, 9 * 4, 3);
        using var scope = NewDisposeScope();
        Tensor student = randn(5, 9).t().requires_grad_(true); // [9, 5], strided
        Assert.That(student.is_contiguous(), Is.False);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, tensor(t, [9, 4]));
        (loss * UpstreamGradient).backward();
        (double expected, double[] gradient, double magnitude) = ProbabilisticKnowledgeTransferReference.Compute(
            ReferenceMath.ToDouble(TensorData.ToArray(student.detach())), 9, 5, ReferenceMath.ToDouble(t), 4);
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), gradient.Select(g => g * UpstreamGradient).ToArray()),
                Is.LessThan(GradientTolerance));
        });
    }

    /// <summary>
    /// Runs the loss with both inputs requiring a gradient, backpropagates 2.5, and checks the loss, the student's
    /// gradient (relative to its largest entry, or to <paramref name="floor"/> when that is larger) and the teacher's
    /// lack of one against the reference (on the inputs flattened to [B, -1]).
    /// </summary>
    private static void AssertMatchesReference(float[] s, long[] studentShape, float[] t, long[] teacherShape, double eps = 1e-7,
        double floor = 1e-30)
    {
        int batch = (int)studentShape[0];
        int studentDim = s.Length / batch, teacherDim = t.Length / batch;
        using var scope = NewDisposeScope();
        Tensor student = tensor(s, studentShape).requires_grad_(true);
        Tensor teacher = tensor(t, teacherShape).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.ProbabilisticKnowledgeTransfer(student, teacher, eps);
        (loss * UpstreamGradient).backward();

        (double expected, double[] gradient, double magnitude) = ProbabilisticKnowledgeTransferReference.Compute(
            ReferenceMath.ToDouble(s), batch, studentDim, ReferenceMath.ToDouble(t), teacherDim, eps);
        double[] scaled = gradient.Select(g => g * UpstreamGradient).ToArray();
        float[] actual = TensorData.ToArray(student.grad!);
        double error = Tolerance.RelativeMaxError(actual, scaled, floor);
        TestContext.Out.WriteLine($"loss {loss.item<float>():R} reference {expected:R} magnitude {magnitude:R}; gradient error {error:E2}");

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
            Assert.That(student.grad!.shape, Is.EqualTo(studentShape));
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            Assert.That(error, Is.LessThan(GradientTolerance));
            Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        });
    }

    private static float[] Scaled(float[] values, double[] scales)
    {
        int perExample = values.Length / scales.Length;
        return values.Select((v, i) => (float)(v * scales[i / perExample])).ToArray();
    }
}
