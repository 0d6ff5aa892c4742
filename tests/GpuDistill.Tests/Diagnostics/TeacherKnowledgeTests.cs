using GpuDistill.Diagnostics;
using GpuDistill.Tests.Generic;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Diagnostics;

/// <summary>The teacher's soft-target statistics (entropy, non-target mass) on crafted logits and against a float64 loop.</summary>
public sealed class TeacherKnowledgeTests
{
    [Test]
    public void CraftedLogitsGiveKnownStatistics()
    {
        // Row 0: logits (ln 3, 0), label 0: p = (3/4, 1/4) at T = 1, (sqrt 3, 1) / (sqrt 3 + 1) at T = 2.
        // Row 1: equal logits, label 1: p = (1/2, 1/2) at every T.
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new float[] { MathF.Log(3), 0, 2, 2 }, [2, 2]);
        Tensor labels = tensor(new long[] { 0, 1 });
        TeacherKnowledgeResult result = TeacherKnowledge.FromLogits("crafted", logits, labels, [1, 2]);
        double a = Math.Sqrt(3) / (Math.Sqrt(3) + 1);
        Assert.Multiple(() =>
        {
            Assert.That(result.Set, Is.EqualTo("crafted"));
            Assert.That(result.Examples, Is.EqualTo(2));
            Assert.That(result.Classes, Is.EqualTo(2));
            Assert.That(result.Accuracy, Is.EqualTo(0.5), "a tie picks the first class, so row 1 is wrong");
            Assert.That(result.ByTemperature.Select(s => s.Temperature), Is.EqualTo(new[] { 1.0, 2.0 }));
            Assert.That(result.ByTemperature[0].NonTargetMass, Is.EqualTo((0.25 + 0.5) / 2).Within(1e-7));
            Assert.That(result.ByTemperature[0].MeanEntropy, Is.EqualTo((Entropy([0.75, 0.25]) + Math.Log(2)) / 2).Within(1e-7));
            Assert.That(result.ByTemperature[1].NonTargetMass, Is.EqualTo((1 - a + 0.5) / 2).Within(1e-7));
            Assert.That(result.ByTemperature[1].MeanEntropy, Is.EqualTo((Entropy([a, 1 - a]) + Math.Log(2)) / 2).Within(1e-7));
        });
    }

    [TestCase(1, 1)]
    [TestCase(41, 1271)]
    [TestCase(3, 10)]
    public void MatchesFloat64Loop(int rows, int classes)
    {
        Random random = RandomData.NewRandom();
        float[] z = RandomData.Uniform(random, rows * classes, 30);
        long[] y = [.. Enumerable.Range(0, rows).Select(_ => (long)random.Next(classes))];
        double[] temperatures = [0.5, 1, 4, 20];
        using var scope = NewDisposeScope();
        TeacherKnowledgeResult result = TeacherKnowledge.FromLogits("random", tensor(z, [rows, classes]), tensor(y), temperatures);
        for (int k = 0; k < temperatures.Length; k++)
        {
            double entropy = 0, nonTarget = 0;
            for (int i = 0; i < rows; i++)
            {
                double[] logP = ReferenceMath.LogSoftmax(ReferenceMath.ToDouble(z[(i * classes)..((i + 1) * classes)]), temperatures[k]);
                double[] q = [.. logP.Select(Math.Exp)];
                entropy += Entropy(q);
                nonTarget += 1 - q[y[i]];
            }
            SoftTargetStatistics s = result.ByTemperature[k];
            Assert.That(s.MeanEntropy, Is.EqualTo(entropy / rows).Within(1e-10 * Math.Max(1, entropy / rows)), $"T = {temperatures[k]}");
            Assert.That(s.NonTargetMass, Is.EqualTo(nonTarget / rows).Within(1e-10), $"T = {temperatures[k]}");
            Assert.That(s.MeanEntropy, Is.InRange(0.0, Math.Log(classes) + 1e-12));
        }
    }

    [Test]
    public void ExtremeLogitsStayFinite()
    {
        using var scope = NewDisposeScope();
        Tensor logits = tensor(new float[] { 1e30f, -1e30f, 0, -3e38f, 3e38f, 0 }, [2, 3]);
        TeacherKnowledgeResult result = TeacherKnowledge.FromLogits("extreme", logits, tensor(new long[] { 0, 2 }), [1]);
        Assert.That(result.ByTemperature[0].MeanEntropy, Is.EqualTo(0).Within(1e-12));
        Assert.That(result.ByTemperature[0].NonTargetMass, Is.EqualTo(0.5).Within(1e-12));
        Assert.That(result.Accuracy, Is.EqualTo(0.5));
    }

    [Test]
    public void BadInputIsRejected()
    {
        using var scope = NewDisposeScope();
        Tensor good = rand(4, 3);
        Tensor labels = tensor(new long[] { 0, 1, 2, 0 });
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", full(4, 3, float.NaN), labels), "logits", "finite");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", rand(4), labels), "logits", "rank 2");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", rand(0, 3), tensor(Array.Empty<long>())), "logits", "must not be empty");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", good, tensor(new long[] { 0, 1, 3, 0 })), "labels", "outside [0, 3)");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", good, tensor(new long[] { 0, 1 })), "labels", "shape [4]");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", good, labels, [1, 0]), "temperatures", "> 0");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", good, labels, [double.NaN]), "temperatures", "finite");
        ArgumentAssert.Rejects(() => TeacherKnowledge.FromLogits("x", good, labels, []), "temperatures", "empty");
    }

    private static double Entropy(double[] p) => -p.Where(v => v > 0).Sum(v => v * Math.Log(v));
}
