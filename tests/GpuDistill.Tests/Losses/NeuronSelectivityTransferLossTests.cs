using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.NeuronSelectivityTransfer"/> through TorchSharp autograd against the float64
/// reference: with an upstream gradient of 2.5 the student gets 2.5 times the reference gradient and the teacher
/// nothing, on odd shapes, different channel counts and spatial sizes (pooled like the reference pools), extreme
/// scales and degenerate batches.
/// </summary>
public sealed class NeuronSelectivityTransferLossTests
{
    private const double UpstreamGradient = 2.5;

    /// <summary>
    /// Gradient error allowed relative to the gradient's largest entry: float32 Gram matrices and normalisation,
    /// summed in a different order from the reference. The student's two terms, (S S^T) S and (S T^T) T, cancel in
    /// part, so this sits above <see cref="Tolerance.Kernel"/>.
    /// </summary>
    private const double GradientTolerance = 1e-4;

    [TestCase(1, 3, 1, 1, 5, 1, 1)]
    [TestCase(2, 3, 4, 4, 5, 4, 4)]
    [TestCase(3, 5, 6, 6, 3, 6, 6)]
    [TestCase(37, 4, 3, 5, 6, 3, 5)]
    [TestCase(7, 13, 5, 9, 13, 5, 9)]
    [TestCase(7, 13, 5, 9, 20, 5, 9)]
    [TestCase(2, 3, 8, 8, 5, 4, 4)]
    [TestCase(3, 4, 5, 5, 6, 7, 7)]
    [TestCase(4, 32, 7, 7, 128, 7, 7)]    // the small CNN's last stage against the teacher's
    [TestCase(3, 20, 3, 3, 24, 3, 3)]     // more channels than positions on both sides
    [TestCase(3, 4, 6, 4, 5, 4, 7)]
    [TestCase(2, 6, 7, 13, 5, 3, 3)]
    [TestCase(1, 2, 1, 1, 3, 4, 4)]
    [TestCase(64, 256, 8, 8, 128, 8, 8)]
    public void MatchesReference(int b, int cs, int hs, int ws, int ct, int ht, int wt) =>
        AssertMatchesReferenceOnRandomMaps(new MapShape(b, cs, hs, ws), new MapShape(b, ct, ht, wt), givenTeacherTerms: false);

    /// <summary>The teacher's term and row norms given per image (as NST's term keeps them from a teacher cache): the
    /// same loss and gradient, pooled shapes included.</summary>
    [TestCase(1, 3, 1, 1, 5, 1, 1)]
    [TestCase(37, 4, 3, 5, 6, 3, 5)]
    [TestCase(2, 3, 8, 8, 5, 4, 4)]
    [TestCase(3, 4, 5, 5, 6, 7, 7)]
    [TestCase(4, 32, 7, 7, 128, 7, 7)]
    public void MatchesReferenceWithTheTeacherTermsGiven(int b, int cs, int hs, int ws, int ct, int ht, int wt) =>
        AssertMatchesReferenceOnRandomMaps(new MapShape(b, cs, hs, ws), new MapShape(b, ct, ht, wt), givenTeacherTerms: true);

    /// <summary><see cref="AssertMatchesReference"/> on fresh uniform maps in [-3, 3].</summary>
    private static void AssertMatchesReferenceOnRandomMaps(MapShape sShape, MapShape tShape, bool givenTeacherTerms)
    {
        Random random = RandomData.NewRandom();
        AssertMatchesReference(sShape, RandomData.Uniform(random, sShape.Count, 3), tShape, RandomData.Uniform(random, tShape.Count, 3),
            givenTeacherTerms: givenTeacherTerms);
    }

    [TestCase(4, 6, 5, 5, 8, 5, 5)]
    [TestCase(3, 8, 6, 6, 4, 3, 3)]
    public void MatchesReferenceOnNonNegativeFeatures(int b, int cs, int hs, int ws, int ct, int ht, int wt)
    {
        // Post-ReLU maps: every cosine is positive, so the three terms are close and cancel more than on signed data.
        var sShape = new MapShape(b, cs, hs, ws);
        var tShape = new MapShape(b, ct, ht, wt);
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, sShape.Count, 3).Select(v => Math.Max(v, 0)).ToArray();
        float[] t = RandomData.Uniform(random, tShape.Count, 3).Select(v => Math.Max(v, 0)).ToArray();
        AssertMatchesReference(sShape, s, tShape, t);
    }

    [TestCase(false, 1e30)]
    [TestCase(true, 1e30)]   // the teacher's term and row norms given, norms above the limit: its rows are normalised
    [TestCase(true, 1e15)]   // norms below it: the cross Gram matrix is divided by the norms after the product
    public void ExtremeScalesPerExampleMatchTheReference(bool givenTeacherTerms, double largest)
    {
        // Each example at its own scale: below the 1e-12 floor (1e-25, 1e-15: rows become x / 1e-12), tiny but above
        // it (1e-9), and huge (1e12, 1e30: plain float32 norms overflow from ~1e19). Each example's gradient is
        // compared at its own scale, since they span 40 orders of magnitude.
        double[] scales = [1e-25, 1e-15, 1e-9, 1, 1e12, largest];
        var sShape = new MapShape(scales.Length, 4, 3, 5);
        var tShape = new MapShape(scales.Length, 6, 3, 5);
        Random random = RandomData.NewRandom();
        float[] s = Scaled(RandomData.Uniform(random, sShape.Count, 3), scales);
        float[] t = Scaled(RandomData.Uniform(random, tShape.Count, 3), scales.Reverse().ToArray());

        using var scope = NewDisposeScope();
        Tensor student = tensor(s, sShape.Dims).requires_grad_(true);
        Tensor teacher = tensor(t, tShape.Dims);
        Tensor loss = givenTeacherTerms
            ? GivenTeacherSide(student, teacher)
            : GpuDistill.Losses.NeuronSelectivityTransfer(student, teacher);
        (loss * UpstreamGradient).backward();
        (double expected, double[] gradient, double magnitude) = NeuronSelectivityTransferReference.Compute(
            ReferenceMath.ToDouble(s), sShape, ReferenceMath.ToDouble(t), tShape);
        float[] actual = TensorData.ToArray(student.grad!);

        int perExample = sShape.Count / sShape.Batch;
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            for (int b = 0; b < sShape.Batch; b++)
            {
                double[] scaled = gradient.AsSpan(b * perExample, perExample).ToArray().Select(g => g * UpstreamGradient).ToArray();
                Assert.That(Tolerance.RelativeMaxError(actual.AsSpan(b * perExample, perExample), scaled), Is.LessThan(GradientTolerance),
                    $"example {b} (scale {scales[b]:G})");
            }
        });
    }

    [Test]
    public void AllZeroStudentGivesTheTeacherTermAndZeroGradient()
    {
        var sShape = new MapShape(3, 4, 5, 5);
        var tShape = new MapShape(3, 6, 5, 5);
        float[] t = RandomData.Uniform(RandomData.NewRandom(), tShape.Count, 3);
        AssertMatchesReference(sShape, new float[sShape.Count], tShape, t, expectZeroGradient: true);
    }

    [Test]
    public void AllZeroTeacherIsFiniteAndMatchesTheReference()
    {
        var sShape = new MapShape(3, 4, 5, 5);
        var tShape = new MapShape(3, 6, 5, 5);
        float[] s = RandomData.Uniform(RandomData.NewRandom(), sShape.Count, 3);
        AssertMatchesReference(sShape, s, tShape, new float[tShape.Count]);
    }

    [Test]
    public void ZeroChannelsAreFiniteAndGetNoGradient()
    {
        var sShape = new MapShape(4, 5, 3, 3);
        var tShape = new MapShape(4, 3, 3, 3);
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, sShape.Count, 3);
        float[] t = RandomData.Uniform(random, tShape.Count, 3);
        Array.Clear(s, (1 * 5 + 2) * 9, 9); // example 1, channel 2
        Array.Clear(s, (3 * 5 + 0) * 9, 9);
        Array.Clear(t, (2 * 3 + 1) * 9, 9);
        float[] gradient = AssertMatchesReference(sShape, s, tShape, t);
        Assert.That(gradient.AsSpan((1 * 5 + 2) * 9, 9).ToArray(), Is.All.EqualTo(0));
    }

    [Test]
    public void AllExamplesEqualMatchesTheReference()
    {
        var sShape = new MapShape(5, 4, 3, 4);
        var tShape = new MapShape(5, 7, 3, 4);
        Random random = RandomData.NewRandom();
        float[] s = Repeated(RandomData.Uniform(random, sShape.Count / 5, 3), 5);
        float[] t = Repeated(RandomData.Uniform(random, tShape.Count / 5, 3), 5);
        AssertMatchesReference(sShape, s, tShape, t);
    }

    [Test]
    public void IdenticalStudentAndTeacherGiveZeroLossAndGradient()
    {
        var shape = new MapShape(4, 6, 4, 4);
        float[] x = RandomData.Uniform(RandomData.NewRandom(), shape.Count, 3);
        using var scope = NewDisposeScope();
        Tensor student = tensor(x, shape.Dims).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.NeuronSelectivityTransfer(student, tensor(x, shape.Dims));
        (loss * UpstreamGradient).backward();
        // The natural size of a gradient entry is 2.5 * 4 / (B C_s) / ||row|| (unit rows, C_s terms per sum).
        double minNorm = NeuronSelectivityTransferReference.NormalizeRows(ReferenceMath.ToDouble(x), 4 * 6, 16).Norms.Min();
        double natural = UpstreamGradient * 4 / (4 * 6) / minNorm;
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(loss.item<float>()), Is.LessThan(1e-6));
            Assert.That(TensorData.ToArray(student.grad!).Max(Math.Abs), Is.LessThan(1e-5 * natural));
        });
    }

    [Test]
    public void NonContiguousStudentIsAccepted()
    {
        var sShape = new MapShape(3, 4, 5, 6);
        var tShape = new MapShape(3, 5, 5, 6);
        Random random = RandomData.NewRandom();
        float[] t = RandomData.Uniform(random, tShape.Count, 3);
        using var scope = NewDisposeScope();
        // Stored channels-last [B, H, W, C], viewed as [B, C, H, W].
        Tensor student = randn(3, 5, 6, 4).permute(0, 3, 1, 2).requires_grad_(true);
        Assert.That(student.is_contiguous(), Is.False);
        Tensor loss = GpuDistill.Losses.NeuronSelectivityTransfer(student, tensor(t, tShape.Dims));
        (loss * UpstreamGradient).backward();
        float[] s = TensorData.ToArray(student.detach());
        (double expected, double[] gradient, double magnitude) = NeuronSelectivityTransferReference.Compute(
            ReferenceMath.ToDouble(s), sShape, ReferenceMath.ToDouble(t), tShape);
        Assert.Multiple(() =>
        {
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), gradient.Select(g => g * UpstreamGradient).ToArray()),
                Is.LessThan(GradientTolerance));
        });
    }

    [Test]
    public void StudentWithoutGradientStillGivesTheLoss()
    {
        var shape = new MapShape(2, 3, 4, 4);
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, shape.Count, 3);
        float[] t = RandomData.Uniform(random, shape.Count, 3);
        using var scope = NewDisposeScope();
        Tensor loss = GpuDistill.Losses.NeuronSelectivityTransfer(tensor(s, shape.Dims), tensor(t, shape.Dims));
        (double expected, _, double magnitude) = NeuronSelectivityTransferReference.Compute(
            ReferenceMath.ToDouble(s), shape, ReferenceMath.ToDouble(t), shape);
        Assert.Multiple(() =>
        {
            Assert.That(loss.requires_grad, Is.False);
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
        });
    }

    /// <summary>The loss with the teacher's term and row norms given, as NST's term passes them from its cache.</summary>
    private static Tensor GivenTeacherSide(Tensor student, Tensor teacher)
    {
        (Tensor terms, Tensor norms) = GpuDistill.Losses.NeuronSelectivityTeacherSide(student, teacher);
        return GpuDistill.Losses.NeuronSelectivityTransfer(student, teacher, terms, norms);
    }

    /// <summary>
    /// Runs the loss with both inputs requiring a gradient, backpropagates 2.5, and checks the loss, the student's
    /// gradient and the teacher's lack of one against the reference; returns the student's gradient.
    /// </summary>
    private static float[] AssertMatchesReference(MapShape sShape, float[] s, MapShape tShape, float[] t, bool expectZeroGradient = false,
        bool givenTeacherTerms = false)
    {
        using var scope = NewDisposeScope();
        Tensor student = tensor(s, sShape.Dims).requires_grad_(true);
        Tensor teacher = tensor(t, tShape.Dims).requires_grad_(true);
        Tensor loss = givenTeacherTerms
            ? GivenTeacherSide(student, teacher)
            : GpuDistill.Losses.NeuronSelectivityTransfer(student, teacher);
        (loss * UpstreamGradient).backward();

        (double expected, double[] gradient, double magnitude) = NeuronSelectivityTransferReference.Compute(
            ReferenceMath.ToDouble(s), sShape, ReferenceMath.ToDouble(t), tShape);
        double[] scaled = gradient.Select(g => g * UpstreamGradient).ToArray();
        float[] actual = TensorData.ToArray(student.grad!);
        double error = Tolerance.RelativeMaxError(actual, scaled);
        TestContext.Out.WriteLine($"loss {loss.item<float>():R} reference {expected:R}; gradient error {error:E2}");

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
            Tolerance.AssertLoss(loss.item<float>(), expected, magnitude);
            if (expectZeroGradient)
                Assert.That(actual, Is.All.EqualTo(0));
            else
                Assert.That(error, Is.LessThan(GradientTolerance));
            Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        });
        return actual;
    }

    private static float[] Scaled(float[] values, double[] scales)
    {
        int perExample = values.Length / scales.Length;
        return values.Select((v, i) => (float)(v * scales[i / perExample])).ToArray();
    }

    private static float[] Repeated(float[] example, int times) =>
        Enumerable.Repeat(example, times).SelectMany(e => e).ToArray();
}
