using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>The RKD references' gradients are checked by central finite differences, so the kernel tests rest on them.</summary>
public sealed class RelationalReferenceTests
{
    [TestCase(2, 3, 2)]
    [TestCase(4, 5, 3)]
    [TestCase(6, 2, 4)]
    public void DistanceGradientMatchesFiniteDifferences(int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * studentWidth, 1));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * teacherWidth, 1));
        (_, double[] gradient) = RelationalDistanceReference.Compute(s, t, batch, studentWidth, teacherWidth);
        FiniteDifferences.AssertGradient(x => RelationalDistanceReference.Loss(x, t, batch, studentWidth, teacherWidth), s, gradient);
    }

    [TestCase(2, 3, 2)]
    [TestCase(3, 4, 2)]
    [TestCase(5, 3, 6)]
    public void AngleGradientMatchesFiniteDifferences(int batch, int studentWidth, int teacherWidth)
    {
        Random random = RandomData.NewRandom();
        double[] s = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * studentWidth, 1));
        double[] t = ReferenceMath.ToDouble(RandomData.Uniform(random, batch * teacherWidth, 1));
        (_, double[] gradient) = RelationalAngleReference.Compute(s, t, batch, studentWidth, teacherWidth);
        FiniteDifferences.AssertGradient(x => RelationalAngleReference.Loss(x, t, batch, studentWidth, teacherWidth), s, gradient);
    }

    [Test]
    public void DistanceIsInvariantToScaleAndAngleToTranslation()
    {
        // Distances are divided by their mean and angles see only differences of unit vectors: a scaled student
        // matches its own distances, a shifted and scaled one its own angles.
        Random random = RandomData.NewRandom();
        double[] e = ReferenceMath.ToDouble(RandomData.Uniform(random, 5 * 4, 1));
        double[] moved = e.Select((v, k) => 2.5 * v + (k % 4)).ToArray();
        double[] scaled = e.Select(v => 2.5 * v).ToArray();
        Assert.That(RelationalDistanceReference.Loss(scaled, e, 5, 4, 4), Is.LessThan(1e-28));
        Assert.That(RelationalAngleReference.Loss(moved, e, 5, 4, 4), Is.LessThan(1e-28));
        Assert.That(RelationalAngleReference.Loss(e, e.Select(v => -v).ToArray(), 5, 4, 4), Is.LessThan(1e-28),
            "a reflection keeps every angle");
    }
}
