using GpuDistill.Kernels.AttentionTransfer;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The attention-transfer reference's gradients are checked by central finite differences of its own loss, so the
/// kernel tests rest on them.
/// </summary>
public sealed class AttentionTransferReferenceTests
{
    [Test, Combinatorial]
    public void LossGradientMatchesFiniteDifferences(
        [Values(1.0, 1.5, 2.0, 3.0)] double p,
        [Values] AttentionTransferForm form,
        [Values(false, true)] bool otherTeacherChannels)
    {
        const int batch = 3, channels = 4, positions = 5;
        int teacherChannels = otherTeacherChannels ? 6 : channels;
        Random random = RandomData.NewRandom();
        double[] student = AwayFromZero(random, batch * channels * positions);
        double[] teacher = AwayFromZero(random, batch * teacherChannels * positions);

        (_, double[] gradient) = AttentionTransferReference.Compute(student, teacher, batch, channels, teacherChannels,
            positions, p, form);
        FiniteDifferences.AssertGradient(
            x => AttentionTransferReference.Compute(x, teacher, batch, channels, teacherChannels, positions, p, form).Loss,
            student, gradient);
    }

    [Test, Combinatorial]
    public void MapBackwardMatchesFiniteDifferences([Values(1.0, 2.0, 3.0)] double p, [Values] AttentionTransferForm form)
    {
        const int batch = 2, channels = 3, positions = 7;
        Random random = RandomData.NewRandom();
        double[] feature = AwayFromZero(random, batch * channels * positions);
        double[] upstream = Array.ConvertAll(RandomData.Uniform(random, batch * positions, 1), v => (double)v);

        double[] gradient = AttentionTransferReference.MapBackward(feature, upstream, batch, channels, positions, p, form);
        FiniteDifferences.AssertGradient(x =>
        {
            double[] map = AttentionTransferReference.Map(x, batch, channels, positions, p, form);
            return map.Select((a, i) => a * upstream[i]).Sum();
        }, feature, gradient);
    }

    [Test]
    public void MapsAreUnitVectorsAndTheTwoFormsDifferOnlyInTheLoss()
    {
        const int batch = 2, channels = 5, positions = 6;
        Random random = RandomData.NewRandom();
        double[] feature = AwayFromZero(random, batch * channels * positions);
        double[] code = AttentionTransferReference.Map(feature, batch, channels, positions, 2, AttentionTransferForm.Code);
        double[] paper = AttentionTransferReference.Map(feature, batch, channels, positions, 2, AttentionTransferForm.Paper);
        for (int b = 0; b < batch; b++)
        {
            double norm = Math.Sqrt(code.Skip(b * positions).Take(positions).Sum(a => a * a));
            Assert.That(norm, Is.EqualTo(1).Within(1e-12), $"example {b}");
        }
        // The channel mean and the channel sum differ by 1/C, which the normalisation cancels.
        Assert.That(paper, Is.EqualTo(code).Within(1e-12));
    }

    [Test]
    public void EqualMapsGiveZeroLossAndGradientInBothForms([Values] AttentionTransferForm form)
    {
        // Exactly equal maps: the paper form's ||d|| has no derivative at d = 0 and its gradient is defined as 0 there.
        // (Maps equal only up to rounding, e.g. of a feature and 3 times it, give ||d|| ~ 1e-17 and a unit-size
        // gradient d / ||d||: that is the true derivative, not an error.)
        Random random = RandomData.NewRandom();
        double[] student = AwayFromZero(random, 2 * 3 * 4);
        double[] teacher = (double[])student.Clone();
        (double loss, double[] gradient) = AttentionTransferReference.Compute(student, teacher, 2, 3, 3, 4, 2, form);
        Assert.That(loss, Is.Zero);
        Assert.That(gradient, Is.All.Zero);
    }

    /// <summary>Uniform magnitudes in [0.1, 1] with random signs: |f|^p for p &lt;= 1 is not differentiable at 0.</summary>
    private static double[] AwayFromZero(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (random.Next(2) * 2 - 1) * (0.1 + 0.9 * random.NextDouble())).ToArray();
}
