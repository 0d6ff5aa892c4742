using GpuDistill.Compute;
using GpuDistill.Kernels.MultiTeacher;
using GpuDistill.Kernels.Rows;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.Kernels;
using GpuDistill.Tests.References;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.MultiTeacherKD"/> through TorchSharp autograd: values and gradients against the float64
/// reference and the TorchSharp composite, its relation to single-teacher KD, and the weights' normalisation.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class MultiTeacherKDLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;

    [Test, Combinatorial]
    public void BackwardGivesReferenceGradientTimesUpstream(
        [Range(0, 3)] int shape,
        [Values(1, 2, 5)] int teacherCount,
        [Values] MultiTeacherWeighting weighting,
        [Values(5.0, 1e4)] double scale)
    {
        (int rows, int classes) = MultiTeacherKernelTests.Shapes[shape];
        const double temperature = 4.0;
        Random random = RandomData.NewRandom();
        (float[] s, float[] t, double[]? w, int[]? y) =
            MultiTeacherKernelTests.Inputs(random, rows, classes, teacherCount, weighting, scale);

        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teachers = tensor(t, [teacherCount, rows, classes]).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.MultiTeacherKD(student, teachers, temperature, Weights(w),
            y is null ? null : TensorData.Labels(y), device: Device);
        (loss * UpstreamGradient).backward();

        (double expectedLoss, double[] expectedGrad) =
            MultiTeacherKDReference.Compute(s, t, rows, classes, teacherCount, temperature, w, y);
        double[] scaledGrad = expectedGrad.Select(g => g * UpstreamGradient).ToArray();

        Assert.Multiple(() =>
        {
            Assert.That(loss.shape, Is.Empty, "the loss is a scalar");
            Tolerance.AssertLoss(loss.item<float>(), expectedLoss, Tolerance.SoftLossMagnitude(s, t, temperature));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), scaledGrad,
                Tolerance.GradientFloor(UpstreamGradient * MultiTeacherKernelTests.GradientScale(temperature, teacherCount) / rows)),
                Is.LessThan(Tolerance.Kernel));
            Assert.That(teachers.grad, Is.Null, "the teachers never receive a gradient");
        });
    }

    [TestCase(1, 1, 1.0)]
    [TestCase(41, 1271, 4.0)]
    [TestCase(256, 10, 20.0)]
    [TestCase(3, 100003, 4.0)]
    public void OneTeacherEqualsSoftmaxKL(int rows, int classes, double temperature)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, 8);
        float[] t = RandomData.Uniform(random, (long)rows * classes, 8);
        int[] y = RandomData.Labels(random, rows, classes, ignoreIndex: null);

        using var scope = NewDisposeScope();
        Tensor single = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor kd = GpuDistill.Losses.SoftmaxKL(single, TensorData.Matrix(t, rows, classes), temperature, device: Device);
        kd.backward();
        double[] kdGrad = TensorData.ToArray(single.grad!).Select(v => (double)v).ToArray();

        foreach (MultiTeacherWeights weights in new[] { MultiTeacherWeights.Fixed(0.4), MultiTeacherWeights.Confidence })
        {
            Tensor multi = TensorData.Matrix(s, rows, classes, requiresGrad: true);
            Tensor loss = GpuDistill.Losses.MultiTeacherKD(multi, tensor(t, [1, rows, classes]), temperature, weights,
                TensorData.Labels(y), device: Device);
            loss.backward();
            Assert.Multiple(() =>
            {
                Tolerance.AssertLoss(loss.item<float>(), kd.item<float>(), Tolerance.SoftLossMagnitude(s, t, temperature));
                Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(multi.grad!), kdGrad,
                    Tolerance.GradientFloor(temperature / rows)), Is.LessThan(Tolerance.Kernel), $"{weights}");
            });
        }
    }

    [Test]
    public void FixedWeightsAreNormalised()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 9 * 20, 5);
        float[] t = RandomData.Uniform(random, 2 * 9 * 20, 5);
        using var scope = NewDisposeScope();
        (float loss13, float[] grad13) = LossAndGradient(s, t, 2, 9, 20, MultiTeacherWeights.Fixed(1, 3));
        (float lossQuarter, float[] gradQuarter) = LossAndGradient(s, t, 2, 9, 20, MultiTeacherWeights.Fixed(0.25, 0.75));
        (_, float[] gradOther) = LossAndGradient(s, t, 2, 9, 20, MultiTeacherWeights.Fixed(3, 1));
        Assert.Multiple(() =>
        {
            Assert.That(lossQuarter, Is.EqualTo(loss13).Within(1e-6).Percent);
            Assert.That(gradQuarter, Is.EqualTo(grad13).AsCollection.Within(1e-7));
            Assert.That(MultiTeacherWeights.Fixed(1, 3).Values, Is.EqualTo(new[] { 0.25, 0.75 }).AsCollection);
            // Compared by gradient, (T / B)(p - q): two random losses can coincide (seed 1636601369: 1e-4 apart).
            Assert.That(Tolerance.RelativeMaxError(gradOther, Array.ConvertAll(grad13, g => (double)g)), Is.GreaterThan(1e-3),
                "the weights matter");
        });
    }

    [Test]
    public void UniformIsEqualFixedWeights()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 5 * 12, 5);
        float[] t = RandomData.Uniform(random, 3 * 5 * 12, 5);
        using var scope = NewDisposeScope();
        (float uniform, float[] gradUniform) = LossAndGradient(s, t, 3, 5, 12, MultiTeacherWeights.Uniform);
        (float equal, float[] gradEqual) = LossAndGradient(s, t, 3, 5, 12, MultiTeacherWeights.Fixed(2, 2, 2));
        Assert.That(uniform, Is.EqualTo(equal).Within(1e-6).Percent);
        Assert.That(gradUniform, Is.EqualTo(gradEqual).AsCollection.Within(1e-7));
    }

    [TestCase(1, 1, 1.0, 2)]
    [TestCase(41, 1271, 4.0, 5)]
    [TestCase(256, 10, 20.0, 3)]
    public void MatchesTorchSharpComposite(int rows, int classes, double temperature, int teacherCount)
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, 8);
        float[] t = RandomData.Uniform(random, (long)teacherCount * rows * classes, 8);
        double[] w = Enumerable.Range(0, teacherCount).Select(_ => 0.2 + random.NextDouble()).ToArray();

        using var scope = NewDisposeScope();
        Tensor fused = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor teachers = tensor(t, [teacherCount, rows, classes]);
        Tensor lossFused = GpuDistill.Losses.MultiTeacherKD(fused, teachers, temperature, MultiTeacherWeights.Fixed(w),
            device: Device);
        (lossFused * UpstreamGradient).backward();

        // The composite: q = sum_k w_k softmax(t_k / T) formed directly (fine at these logit sizes), then kl_div.
        Tensor composite = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor q = zeros(rows, classes);
        for (int k = 0; k < teacherCount; k++)
            q = q + nn.functional.softmax(teachers[k] / temperature, 1) * (w[k] / w.Sum());
        Tensor lossComposite = nn.functional.kl_div(nn.functional.log_softmax(composite / temperature, 1), q,
            reduction: nn.Reduction.Sum, log_target: false) / rows * (temperature * temperature);
        (lossComposite * UpstreamGradient).backward();

        double[] compositeGrad = TensorData.ToArray(composite.grad!).Select(v => (double)v).ToArray();
        Assert.Multiple(() =>
        {
            // The composite is float32 too, and forms q directly (its sum carries ~1e-7 rounding): a loss near 0 (one
            // class) is compared to an absolute bound, a gradient near 0 to a share of its natural scale.
            Tolerance.AssertLoss(lossFused.item<float>(), lossComposite.item<float>(),
                Tolerance.SoftLossMagnitude(s, t, temperature), relative: 1e-4);
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(fused.grad!), compositeGrad,
                Tolerance.GradientFloor(UpstreamGradient * temperature / rows)), Is.LessThan(1e-4));
        });
    }

    [Test]
    public void EveryLayoutAgreesWithTheCpuAcceleratorThroughTheBridge()
    {
        // The host backend (which has no layouts) and a GPU's are measured against the ILGPU CPU accelerator's
        // thread-per-row launch, and so is the CPU accelerator's group layout.
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 37 * 300, 6);
        float[] t = RandomData.Uniform(random, 2 * 37 * 300, 6);
        int[] y = RandomData.Labels(random, 37, 300, ignoreIndex: null);
        using var scope = NewDisposeScope();
        float Loss(ComputeDevice device, RowLayout layout) => GpuDistill.Losses.MultiTeacherKD(
            TensorData.Matrix(s, 37, 300), tensor(t, [2, 37, 300]), 3.0, MultiTeacherWeights.Confidence,
            TensorData.Labels(y), device, layout).item<float>();
        float expected = Loss(TestDevices.Get(AcceleratorKind.Cpu), RowLayout.RowPerThread);
        Assert.Multiple(() =>
        {
            Assert.That(Loss(Device, RowLayout.RowPerGroup), Is.EqualTo(expected).Within(1e-4).Percent);
            Assert.That(Loss(Device, RowLayout.RowPerThread), Is.EqualTo(expected).Within(1e-4).Percent);
        });
    }

    [Test]
    public void NonContiguousInputsAreAccepted()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 12 * 7, 3);
        float[] t = RandomData.Uniform(random, 2 * 12 * 7, 3);
        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 7, 12).t().requires_grad_(true); // [12, 7], strided
        Tensor teachers = tensor(t, [2, 7, 12]).transpose(1, 2); // [2, 12, 7], strided
        Tensor loss = GpuDistill.Losses.MultiTeacherKD(student, teachers, 2.0, MultiTeacherWeights.Fixed(1, 2), device: Device);
        loss.backward();
        (double expected, _) = MultiTeacherKDReference.Compute(TensorData.ToArray(student.detach()),
            TensorData.ToArray(teachers), 12, 7, 2, 2.0, [1, 2], null);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-4).Percent);
        Assert.That(student.grad!.shape, Is.EqualTo(new long[] { 12, 7 }));
    }

    private static MultiTeacherWeights Weights(double[]? fixedWeights) =>
        fixedWeights is null ? MultiTeacherWeights.Confidence : MultiTeacherWeights.Fixed(fixedWeights);

    private (float Loss, float[] Gradient) LossAndGradient(float[] s, float[] t, int teacherCount, int rows, int classes,
        MultiTeacherWeights weights)
    {
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.MultiTeacherKD(student, tensor(t, [teacherCount, rows, classes]), 3.0, weights,
            device: Device);
        loss.backward();
        return (loss.item<float>(), TensorData.ToArray(student.grad!));
    }
}
