using GpuDistill.Compute;
using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>Every bad input to the attention losses gets an ArgumentException that names the argument and the rule.</summary>
public sealed class AttentionTransferBadInputTests
{
    private static Tensor Feature(int batch = 2, int channels = 3, int height = 4, int width = 4) =>
        randn(batch, channels, height, width);

    private static Tensor At(Tensor s, Tensor t, double p = 2, AttentionTransferForm form = AttentionTransferForm.Code) =>
        GpuDistill.Losses.AttentionTransfer(s, t, p, form, TestDevices.Get(AcceleratorKind.Cpu));

    private static Tensor Map(Tensor f, double p = 2) =>
        GpuDistill.Losses.AttentionMap(f, p, device: TestDevices.Get(AcceleratorKind.Cpu));

    [Test] public void StudentRankNotFour() => ArgumentAssert.Rejects(() => At(randn(2, 3, 16), Feature()), "student", "rank 4");
    [Test] public void TeacherRankNotFour() => ArgumentAssert.Rejects(() => At(Feature(), randn([2, 3, 4, 4, 1])), "teacher", "rank 4");
    [Test] public void BatchMismatch() => ArgumentAssert.Rejects(() => At(Feature(batch: 2), Feature(batch: 3)), "teacher", "batch size");
    [Test] public void EmptyFeature() => ArgumentAssert.Rejects(() => At(Feature(channels: 0), Feature()), "student", "empty");
    [Test] public void Float64Student() => ArgumentAssert.Rejects(() => At(Feature().to_type(ScalarType.Float64), Feature()), "student", "float32");
    [Test] public void Float64Teacher() => ArgumentAssert.Rejects(() => At(Feature(), Feature().to_type(ScalarType.Float64)), "teacher", "float32");
    [Test] public void NullStudent() => Assert.Throws<ArgumentNullException>(() => At(null!, Feature()));

    [TestCase(0.0)]
    [TestCase(-1.0)]
    [TestCase(double.NaN)]
    [TestCase(double.PositiveInfinity)]
    public void BadExponent(double p) => ArgumentAssert.Rejects(() => At(Feature(), Feature(), p), "p", "> 0");

    [Test]
    public void UndefinedForm() => ArgumentAssert.Rejects(() => At(Feature(), Feature(), 2, (AttentionTransferForm)7), "form", "Code or Paper");

    [TestCase(float.NaN, "student")]
    [TestCase(float.PositiveInfinity, "student")]
    [TestCase(float.NaN, "teacher")]
    [TestCase(float.NegativeInfinity, "teacher")]
    public void NonFiniteFeatures(float bad, string argument)
    {
        Tensor s = Feature(), t = Feature();
        (argument == "student" ? s : t)[1, 2, 3, 0] = tensor(bad);
        ArgumentAssert.Rejects(() => At(s, t), argument, "finite");
    }

    [Test]
    public void NonFiniteFeatureIsReportedWithItsExample()
    {
        Tensor s = Feature(batch: 3);
        s[2, 0, 0, 0] = tensor(float.NaN);
        var ex = Assert.Catch<ArgumentException>(() => At(s, Feature(batch: 3)));
        Assert.That(ex!.Message, Does.Contain("example 2"));
    }

    [Test]
    public void NonFiniteTeacherIsReportedWhenPooled()
    {
        Tensor t = Feature(height: 8, width: 8);
        t[0, 0, 5, 5] = tensor(float.NaN);
        ArgumentAssert.Rejects(() => At(Feature(), t), "teacher", "finite");
    }

    [Test]
    public void PowerOverflowIsReported() =>
        // Finite features whose |f|^p exceeds float32: the message says so instead of returning infinity.
        ArgumentAssert.Rejects(() => At(Feature() * 1e20f, Feature(), 3), "student", "overflowed float32");

    [Test] public void MapRankNotFour() => ArgumentAssert.Rejects(() => Map(randn(2, 3, 4)), "feature", "rank 4");
    [Test] public void MapBadExponent() => ArgumentAssert.Rejects(() => Map(Feature(), -2), "p", "> 0");
    [Test] public void MapFloat64() => ArgumentAssert.Rejects(() => Map(Feature().to_type(ScalarType.Float64)), "feature", "float32");

    [Test]
    public void MapNonFiniteFeature()
    {
        Tensor f = Feature();
        f[0, 1, 1, 1] = tensor(float.PositiveInfinity);
        ArgumentAssert.Rejects(() => Map(f), "feature", "finite");
    }
}
