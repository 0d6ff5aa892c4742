using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.CorrelationCongruence;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static GpuDistill.Tests.Losses.RelationalLossTestMath;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// Both correlation congruence losses through TorchSharp autograd: upstream gradient 2.5 against the float64
/// references and the same math in TorchSharp ops; RepDistiller's teacher embedding learns with the negated gradient.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class CorrelationCongruenceLossTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 2.5;
    private const double Bound = 2e-5;

    [TestCase(2, 5)]
    [TestCase(37, 128)]
    public void RepDistillerGivesReferenceGradientsTimesUpstream(int batch, int width)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, batch, width).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 1, batch, width).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.CorrelationCongruenceRepDistiller(student, teacher, Device);
        (loss * UpstreamGradient).backward();

        (double expectedLoss, double[] expectedGradient) =
            CorrelationCongruenceReference.RepDistiller(Values(student), Values(teacher), batch, width);
        double[] scaled = expectedGradient.Select(g => g * UpstreamGradient).ToArray();
        AssertClose(loss.item<float>(), student.grad!, expectedLoss, scaled, Bound, "student");
        AssertClose(loss.item<float>(), teacher.grad!, expectedLoss, scaled.Select(g => -g).ToArray(), Bound,
            "the teacher embedding learns with the negated gradient");
    }

    [Test]
    public void RepDistillerDetachedTeacherGetsNoGradient()
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 1, 4, 3).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 1, 4, 3);
        GpuDistill.Losses.CorrelationCongruenceRepDistiller(student, teacher, Device).backward();
        Assert.That(teacher.grad, Is.Null);
        Assert.That(student.grad, Is.Not.Null);
    }

    [TestCase(1, 5, 3, CorrelationKernel.Bilinear)]
    [TestCase(3, 7, 4, CorrelationKernel.Gaussian)]
    [TestCase(37, 20, 12, CorrelationKernel.Gaussian)]
    [TestCase(37, 20, 12, CorrelationKernel.Bilinear)]
    public void KernelGivesReferenceGradientTimesUpstream(int batch, int studentWidth, int teacherWidth, CorrelationKernel kernel)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor student = RandomFeatures(random, 0.5, batch, studentWidth).requires_grad_(true);
        Tensor teacher = RandomFeatures(random, 0.5, batch, teacherWidth).requires_grad_(true);
        Tensor loss = GpuDistill.Losses.CorrelationCongruenceKernel(student, teacher, kernel, 0.4, 2, Device);
        (loss * UpstreamGradient).backward();

        double[] s64 = Values(student), t64 = Values(teacher);
        bool gaussian = kernel == CorrelationKernel.Gaussian;
        (double expectedLoss, double[] expectedGradient) =
            CorrelationCongruenceReference.Kernel(s64, t64, batch, studentWidth, teacherWidth, gaussian, 0.4, 2);
        Assert.That(teacher.grad, Is.Null, "the teacher never receives a gradient");
        AssertClose(loss.item<float>(), student.grad!, expectedLoss, expectedGradient.Select(g => g * UpstreamGradient).ToArray(),
            Bound, $"{kernel} B {batch}", lossFloor:
            CorrelationCongruenceReference.KernelScale(s64, t64, batch, studentWidth, teacherWidth, gaussian, 0.4, 2));
    }

    [TestCase(false, 16, 9, 0.4, 2)]
    [TestCase(true, 16, 9, 0.4, 2)]
    [TestCase(true, 50, 30, 0.7, 4)]
    public void MatchesTorchSharpComposite(bool gaussian, int batch, int width, double gamma, int order)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        Tensor s = RandomFeatures(random, 0.5, batch, width), t = RandomFeatures(random, 0.5, batch, width + 3);
        Tensor fused = s.clone().requires_grad_(true);
        Tensor lossFused = GpuDistill.Losses.CorrelationCongruenceKernel(fused, t,
            gaussian ? CorrelationKernel.Gaussian : CorrelationKernel.Bilinear, gamma, order, Device);
        (lossFused * UpstreamGradient).backward();

        Tensor composite = s.to_type(ScalarType.Float64).requires_grad_(true);
        Tensor lossComposite = CorrelationCongruenceKernel(composite, t.to_type(ScalarType.Float64), gaussian, gamma, order);
        (lossComposite * UpstreamGradient).backward();
        AssertClose(lossFused.item<float>(), fused.grad!, lossComposite.item<double>(), composite.grad!.data<double>().ToArray(),
            Bound, "kernel composite");

        Tensor rs = s.clone().requires_grad_(true);
        Tensor rt = RandomFeatures(random, 0.5, batch, width);
        Tensor lossRep = GpuDistill.Losses.CorrelationCongruenceRepDistiller(rs, rt, Device);
        (lossRep * UpstreamGradient).backward();
        Tensor rc = s.to_type(ScalarType.Float64).requires_grad_(true);
        Tensor lossRepComposite = CorrelationCongruenceRepDistiller(rc, rt.to_type(ScalarType.Float64));
        (lossRepComposite * UpstreamGradient).backward();
        AssertClose(lossRep.item<float>(), rs.grad!, lossRepComposite.item<double>(), rc.grad!.data<double>().ToArray(),
            Bound, "RepDistiller composite");
    }
}
