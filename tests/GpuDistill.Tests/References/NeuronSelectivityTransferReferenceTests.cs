using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.References;

/// <summary>
/// The NST reference: its gradient against central finite differences of its own loss (with and without pooling),
/// its value against the MMD's closed form, and its pooling against hand-computed windows.
/// </summary>
public sealed class NeuronSelectivityTransferReferenceTests
{
    [TestCase(1, 3, 1, 1, 5, 1, 1)]
    [TestCase(1, 2, 1, 3, 3, 1, 3)]
    [TestCase(2, 3, 2, 3, 4, 2, 3)]
    [TestCase(2, 3, 4, 4, 2, 2, 2)]
    [TestCase(2, 2, 3, 3, 3, 5, 4)]
    [TestCase(3, 2, 4, 5, 3, 3, 2)]
    public void GradientMatchesFiniteDifferences(int b, int cs, int hs, int ws, int ct, int ht, int wt)
    {
        var sShape = new MapShape(b, cs, hs, ws);
        var tShape = new MapShape(b, ct, ht, wt);
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, sShape.Count, 2));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, tShape.Count, 2));

        (_, double[] gradient, _) = NeuronSelectivityTransferReference.Compute(student, sShape, teacher, tShape);
        FiniteDifferences.AssertGradient(
            s => NeuronSelectivityTransferReference.Compute(s, sShape, teacher, tShape).Loss, student, gradient);
    }

    [TestCase(3, 4, 3, 5, 6, 3, 5)]
    [TestCase(2, 5, 6, 6, 3, 4, 4)]
    [TestCase(1, 1, 2, 2, 1, 2, 2)]
    public void EqualsTheClosedFormOfTheSquaredMmd(int b, int cs, int hs, int ws, int ct, int ht, int wt)
    {
        // sum_ij dot(x_i, y_j)^2 = <X^T X, Y^T Y>_F, so L = (1/B) sum_b ||T^T T / C_t - S^T S / C_s||_F^2 with the
        // [HW, HW] second-moment matrices of the normalised rows: a different sum from the reference's Gram loops.
        var sShape = new MapShape(b, cs, hs, ws);
        var tShape = new MapShape(b, ct, ht, wt);
        Random random = RandomData.NewRandom();
        double[] student = ReferenceMath.ToDouble(RandomData.Uniform(random, sShape.Count, 3));
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, tShape.Count, 3));
        int h = Math.Min(hs, ht), w = Math.Min(ws, wt), hw = h * w;
        double[] s = NeuronSelectivityTransferReference.NormalizeRows(
            NeuronSelectivityTransferReference.AdaptiveAvgPool(student, sShape, h, w), b * cs, hw).Unit;
        double[] t = NeuronSelectivityTransferReference.NormalizeRows(
            NeuronSelectivityTransferReference.AdaptiveAvgPool(teacher, tShape, h, w), b * ct, hw).Unit;

        double closedForm = 0;
        for (int image = 0; image < b; image++)
        {
            for (int k = 0; k < hw; k++)
            {
                for (int l = 0; l < hw; l++)
                {
                    double ms = 0, mt = 0;
                    for (int c = 0; c < cs; c++) ms += s[(image * cs + c) * hw + k] * s[(image * cs + c) * hw + l];
                    for (int c = 0; c < ct; c++) mt += t[(image * ct + c) * hw + k] * t[(image * ct + c) * hw + l];
                    double d = mt / ct - ms / cs;
                    closedForm += d * d / b;
                }
            }
        }
        double loss = NeuronSelectivityTransferReference.Compute(student, sShape, teacher, tShape).Loss;
        Assert.That(loss, Is.EqualTo(closedForm).Within(1e-12 + 1e-10 * closedForm));
    }

    [Test]
    public void IsZeroWhenTheStudentRepeatsAndRescalesTheTeachersChannels()
    {
        // Each teacher channel twice, scaled by positive factors: the same normalised rows, each counted twice, so
        // S^T S / C_s = T^T T / C_t and the MMD vanishes; an unrelated student does not.
        var tShape = new MapShape(2, 3, 4, 3);
        var sShape = tShape with { Channels = 6 };
        Random random = RandomData.NewRandom();
        double[] teacher = ReferenceMath.ToDouble(RandomData.Uniform(random, tShape.Count, 2));
        var student = new double[sShape.Count];
        int hw = tShape.Height * tShape.Width;
        for (int b = 0; b < 2; b++)
        {
            for (int c = 0; c < 6; c++)
            {
                double scale = 0.5 + c;
                for (int k = 0; k < hw; k++) student[(b * 6 + c) * hw + k] = scale * teacher[(b * 3 + c / 2) * hw + k];
            }
        }
        double[] unrelated = ReferenceMath.ToDouble(RandomData.Uniform(random, sShape.Count, 2));
        Assert.Multiple(() =>
        {
            Assert.That(NeuronSelectivityTransferReference.Compute(student, sShape, teacher, tShape).Loss, Is.EqualTo(0).Within(1e-14));
            Assert.That(NeuronSelectivityTransferReference.Compute(unrelated, sShape, teacher, tShape).Loss, Is.GreaterThan(1e-4));
        });
    }

    [Test]
    public void AdaptivePoolingUsesPyTorchsWindows()
    {
        // Width 5 -> 3: windows [0, 2), [1, 4), [3, 5); height 4 -> 2: [0, 2), [2, 4).
        double[] map = [1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
        double[] pooled = NeuronSelectivityTransferReference.AdaptiveAvgPool(map, new MapShape(1, 1, 4, 5), 2, 3);
        Assert.That(pooled, Is.EqualTo(new[] { 33.0 / 4, 99.0 / 6, 99.0 / 4, 2.0 / 4, 3.0 / 6, 2.0 / 4 }).Within(1e-12));
    }

    [Test]
    public void PoolingBackwardIsTheAdjointOfPooling()
    {
        var shape = new MapShape(2, 3, 7, 5);
        Random random = RandomData.NewRandom();
        double[] x = ReferenceMath.ToDouble(RandomData.Uniform(random, shape.Count, 1));
        double[] y = ReferenceMath.ToDouble(RandomData.Uniform(random, 2 * 3 * 3 * 4, 1));
        double[] px = NeuronSelectivityTransferReference.AdaptiveAvgPool(x, shape, 3, 4);
        double[] pty = NeuronSelectivityTransferReference.AdaptiveAvgPoolBackward(y, shape, 3, 4);
        double left = px.Zip(y, (a, c) => a * c).Sum();
        double right = x.Zip(pty, (a, c) => a * c).Sum();
        Assert.That(left, Is.EqualTo(right).Within(1e-12));
    }
}
