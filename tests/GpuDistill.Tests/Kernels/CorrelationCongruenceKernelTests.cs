using GpuDistill.Compute;
using GpuDistill.Kernels.Relations.CorrelationCongruence;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;

namespace GpuDistill.Tests.Kernels;

/// <summary>Both correlation congruence kernels, straight through their launchers, against the float64 references.</summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]
public sealed class CorrelationCongruenceKernelTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double Bound = 2e-5;

    [TestCase(2, 5)]
    [TestCase(3, 16)]
    [TestCase(37, 19)]
    [TestCase(256, 24)]
    public void RepDistillerMatchesReference(int batch, int width)
    {
        Random random = RandomData.NewRandom();
        foreach (double scale in new[] { 1.0, 1e3 })
        {
            float[] s = RandomData.Uniform(random, batch * width, scale);
            float[] t = RandomData.Uniform(random, batch * width, scale);
            CheckRepDistiller(s, t, batch, width, $"B {batch}, D {width}, scale {scale}");
        }
    }

    [Test]
    public void RepDistillerDegenerateBatchesGiveFiniteResults()
    {
        Random random = RandomData.NewRandom();
        float[] t = RandomData.Uniform(random, 5 * 6, 1);
        CheckRepDistiller(RelationalKernelRun.EqualRows(random, 5, 6, 2), t, 5, 6, "equal student rows");
        CheckRepDistiller(RelationalKernelRun.WithZeroRow(random, 5, 6, 1, 3), t, 5, 6, "zero student row");
        (double loss, float[] gradient) = RunRepDistiller(t, t, 5, 6);
        Assert.That(loss, Is.Zero, "student = teacher");
        Assert.That(gradient, Is.All.Zero, "sign(0) = 0");
    }

    [Test]
    public void RepDistillerRejectsOneExample() =>
        Assert.That(() => RunRepDistiller([1, 2], [3, 4], 1, 2),
            Throws.InstanceOf<ArgumentOutOfRangeException>().With.Message.Contains("at least 2"));

    [TestCase(1, 5, 3)]
    [TestCase(2, 7, 4)]
    [TestCase(3, 16, 33)]
    [TestCase(37, 19, 8)]
    [TestCase(256, 24, 40)]
    public void KernelMatchesReference(int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        foreach ((CorrelationKernel kernel, double gamma, int order) in new[]
                 { (CorrelationKernel.Bilinear, 0.0, 0), (CorrelationKernel.Gaussian, 0.4, 2), (CorrelationKernel.Gaussian, 0.7, 3) })
        {
            float[] s = RandomData.Uniform(random, batch * studentWidth, 0.5);
            float[] t = RandomData.Uniform(random, batch * teacherWidth, 0.5);
            CheckKernel(s, t, batch, studentWidth, teacherWidth, kernel, gamma, order,
                $"B {batch}, Ds {studentWidth}, Dt {teacherWidth}, {kernel} gamma {gamma} P {order}");
        }
    }

    [Test]
    public void KernelDegenerateBatchesGiveFiniteResults()
    {
        Random random = RandomData.NewRandom();
        float[] t = RandomData.Uniform(random, 5 * 4, 1);
        CheckKernel(RelationalKernelRun.EqualRows(random, 5, 6, 1), t, 5, 6, 4, CorrelationKernel.Gaussian, 0.4, 2, "equal rows");
        CheckKernel(RelationalKernelRun.WithZeroRow(random, 5, 6, 1, 0), t, 5, 6, 4, CorrelationKernel.Bilinear, 0, 0, "zero row");
        // C_s = C_t: the norm has no gradient there; the kernel gives 0, as PyTorch does.
        var p = new CorrelationKernelParameters(CorrelationKernel.Gaussian, 0.4, 2);
        (double loss, float[] gradient) = KernelLaunches.RunPair(Device, t, t, 5, (sv, tv, g, r) =>
            Device.Kernels<CorrelationCongruenceKernelLauncher>().Run(sv, tv, g, r, 5, 4, 4, p));
        Assert.That(loss, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    private (double Loss, float[] Gradient) RunRepDistiller(float[] s, float[] t, int batch, int width) =>
        KernelLaunches.RunPair(Device, s, t, batch, (sv, tv, g, r) =>
            Device.Kernels<CorrelationCongruenceRepDistillerLauncher>().Run(sv, tv, g, r, batch, width));

    private void CheckRepDistiller(float[] s, float[] t, int batch, int width, string what) =>
        RelationalKernelRun.AssertMatches(RunRepDistiller(s, t, batch, width),
            CorrelationCongruenceReference.RepDistiller(ReferenceMath.ToDouble(s), ReferenceMath.ToDouble(t), batch, width),
            what, Bound);

    private void CheckKernel(float[] s, float[] t, int batch, int studentWidth, int teacherWidth, CorrelationKernel kernel,
        double gamma, int order, string what)
    {
        var p = new CorrelationKernelParameters(kernel, gamma, order);
        var actual = KernelLaunches.RunPair(Device, s, t, batch, (sv, tv, g, r) =>
            Device.Kernels<CorrelationCongruenceKernelLauncher>().Run(sv, tv, g, r, batch, studentWidth, teacherWidth, p));
        double[] s64 = ReferenceMath.ToDouble(s), t64 = ReferenceMath.ToDouble(t);
        bool gaussian = kernel == CorrelationKernel.Gaussian;
        var expected = CorrelationCongruenceReference.Kernel(s64, t64, batch, studentWidth, teacherWidth, gaussian, gamma, order);
        RelationalKernelRun.AssertMatches(actual, expected, what, Bound, lossFloor:
            CorrelationCongruenceReference.KernelScale(s64, t64, batch, studentWidth, teacherWidth, gaussian, gamma, order));
    }
}
