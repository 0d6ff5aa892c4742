using GpuDistill.Compute;
using GpuDistill.Methods;
using GpuDistill.References;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.StandardizeLogits"/> and KD on standardised logits (the <c>kd</c> term with
/// <see cref="KDSettings.StandardizeLogits"/>): values and gradients against the float64 reference on every backend.
/// </summary>
[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.BridgeKinds))]
public sealed class LogitStandardizationTests(AcceleratorKind kind) : AcceleratorTestBase(kind)
{
    private const double UpstreamGradient = 0.37;

    [TestCase(1, 1, 5.0)]
    [TestCase(2, 3, 5.0)]
    [TestCase(41, 1271, 8.0)]
    [TestCase(1, 100003, 3.0)]
    [TestCase(7, 10, 1e30)]
    [TestCase(5, 10, 1e-30)]
    public void StandardizedRowsMatchTheReference(int rows, int classes, double scale)
    {
        Random random = RandomData.NewRandom();
        float[] v = RandomData.Uniform(random, (long)rows * classes, scale);
        using var scope = NewDisposeScope();
        float[] z = TensorData.ToArray(GpuDistill.Losses.StandardizeLogits(TensorData.Matrix(v, rows, classes)));
        double[] expected = [.. Enumerable.Range(0, rows).SelectMany(i => LogitStandardizationReference.Standardize(v, i, classes))];
        Assert.That(Tolerance.RelativeMaxError(z, expected, 1.0), Is.LessThan(1e-4));
    }

    [Test]
    public void AConstantRowMapsToZeroWithAFiniteGradient()
    {
        using var scope = NewDisposeScope();
        Tensor v = full(3, 10, 2.5f).requires_grad_();
        Tensor z = GpuDistill.Losses.StandardizeLogits(v);
        z.mul(arange(10).to_type(ScalarType.Float32)).sum().backward();
        Assert.That(z.abs().max().item<float>(), Is.EqualTo(0));
        Assert.That(v.grad!.isfinite().all().item<bool>(), Is.True, "the norm's backward at a zero row is 0, not NaN");
    }

    [Test, Combinatorial]
    public void KDOnStandardizedLogitsMatchesTheReference(
        [Range(0, 4)] int shape,
        [Values(0.5, 2.0, 8.0)] double temperature,
        [Values(4.0, 1e30)] double scale)
    {
        (int rows, int classes) = RowKernelRun.Shapes[shape];
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, (long)rows * classes, scale);
        float[] t = RandomData.Uniform(random, (long)rows * classes, scale);
        (double expectedLoss, double[] expectedGradient) = LogitStandardizationReference.StandardizedKL(s, t, rows, classes, temperature);

        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, rows, classes, requiresGrad: true);
        Tensor loss = GpuDistill.Losses.SoftmaxKL(GpuDistill.Losses.StandardizeLogits(student),
            GpuDistill.Losses.StandardizeLogits(TensorData.Matrix(t, rows, classes)), temperature, device: Device);
        (loss * UpstreamGradient).backward();

        double[] scaledGradient = [.. expectedGradient.Select(g => g * UpstreamGradient)];
        // Standardised logits lie within sqrt(C - 1) of 0, so T^2 KL is at most of order C / T * T^2 per row.
        double magnitude = 1 + temperature * Math.Sqrt(classes);
        Assert.Multiple(() =>
        {
            Assert.That(Math.Abs(loss.item<float>() - expectedLoss), Is.LessThanOrEqualTo(1e-4 * Math.Max(Math.Abs(expectedLoss), 1e-3 * magnitude)));
            Assert.That(Tolerance.RelativeMaxError(TensorData.ToArray(student.grad!), scaledGradient,
                Tolerance.GradientFloor(scaledGradient.Select(Math.Abs).DefaultIfEmpty(0).Max() + 1e-12)), Is.LessThan(1e-3));
        });
    }

    [Test]
    public void TheKDTermStandardizesOnlyWhenAsked()
    {
        Random random = RandomData.NewRandom();
        float[] s = RandomData.Uniform(random, 16 * 10, 6), t = RandomData.Uniform(random, 16 * 10, 6);
        using var scope = NewDisposeScope();
        Tensor student = TensorData.Matrix(s, 16, 10), teacher = TensorData.Matrix(t, 16, 10), labels = zeros(16, dtype: ScalarType.Int64);
        var inputs = new TermInputs(student, teacher, labels, 0, 1);
        double plain = new KDTerm(new KDSettings { Temperature = 2 }).Compute(inputs).item<float>();
        double standardized = new KDTerm(new KDSettings { Temperature = 2, StandardizeLogits = true }).Compute(inputs).item<float>();
        Assert.That(plain, Is.EqualTo(GpuDistill.Losses.SoftmaxKL(student, teacher, 2).item<float>()).Within(1e-6));
        Assert.That(standardized, Is.EqualTo(LogitStandardizationReference.StandardizedKL(s, t, 16, 10, 2).Loss).Within(1e-4));
    }

    [TestCase(float.NaN, "student")]
    [TestCase(float.NegativeInfinity, "teacher")]
    public void NonFiniteLogitsAreRejectedByName(float bad, string argument)
    {
        using var scope = NewDisposeScope();
        Tensor s = randn(4, 10), t = randn(4, 10), labels = zeros(4, dtype: ScalarType.Int64);
        (argument == "student" ? s : t)[1, 2] = tensor(bad);
        var term = new KDTerm(new KDSettings { StandardizeLogits = true });
        ArgumentAssert.Rejects(() => term.Compute(new TermInputs(s, t, labels, 0, 1)), argument, "finite");
    }

    [Test]
    public void TheSettingReadsFromTheCommandLineForm()
    {
        MethodSettingsMap settings = MethodSettingsMap.Defaults.Set("kd", "standardizeLogits", "true");
        Assert.That(settings.Get<KDSettings>("kd").StandardizeLogits, Is.True);
        Assert.That(MethodSettingsMap.Defaults.Get<KDSettings>("kd").StandardizeLogits, Is.False);
    }
}
