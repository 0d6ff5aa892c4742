using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// <see cref="GpuDistill.Losses.InstanceRelationGraph"/> against the float64 loop reference: the loss on random
/// batches of several sizes, and the student's gradients (upstream 2.5) against finite differences of the reference.
/// </summary>
public sealed class InstanceRelationGraphLossTests
{
    private const double Upstream = 2.5;

    // Student: logits [B, 4], first [B, 2, 4, 4], second [B, 4, 2, 2] (twice the channels, half the map), embedding [B, 5];
    // teacher: first [B, 3, 4, 4], second [B, 3, 4, 4] (same size), embedding [B, 7].
    private static readonly int[][] StudentShapes = [[4], [2, 4, 4], [4, 2, 2], [5]];
    private static readonly int[][] TeacherShapes = [[4], [3, 4, 4], [3, 4, 4], [7]];

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(37)]
    public void LossMatchesTheReference(int batch)
    {
        Random random = RandomData.NewRandom();
        using var scope = NewDisposeScope();
        (Tensor[] s, GraphMap[] sRef) = Draw(random, batch, StudentShapes);
        (Tensor[] t, GraphMap[] tRef) = Draw(random, batch, TeacherShapes);
        Tensor loss = GpuDistill.Losses.InstanceRelationGraph(Graph(s), Graph(t));
        double expected = InstanceRelationGraphReference.Loss(sRef, tRef);
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-5 + (1e-4 * expected)));
        Assert.That(double.IsFinite(loss.item<float>()), Is.True);
    }

    [Test]
    public void StudentGradientsMatchFiniteDifferencesOfTheReference()
    {
        Random random = RandomData.NewRandom();
        const int batch = 3;
        using var scope = NewDisposeScope();
        (Tensor[] s, GraphMap[] sRef) = Draw(random, batch, StudentShapes);
        (Tensor[] t, GraphMap[] tRef) = Draw(random, batch, TeacherShapes);
        foreach (Tensor x in s) x.requires_grad_(true);
        foreach (Tensor x in t) x.requires_grad_(true);
        Tensor loss = GpuDistill.Losses.InstanceRelationGraph(Graph(s), Graph(t));
        (loss * Upstream).backward();

        for (int part = 0; part < 4; part++)
        {
            Assert.That(t[part].grad, Is.Null, "the teacher never receives a gradient");
            float[] gradient = s[part].grad!.data<float>().ToArray();
            double[] x = sRef[part].Values;
            for (int k = 0; k < x.Length; k++)
            {
                double keep = x[k], h = 1e-6;
                x[k] = keep + h;
                double up = InstanceRelationGraphReference.Loss(sRef, tRef);
                x[k] = keep - h;
                double down = InstanceRelationGraphReference.Loss(sRef, tRef);
                x[k] = keep;
                double numeric = Upstream * (up - down) / (2 * h);
                Assert.That(gradient[k], Is.EqualTo(numeric).Within(2e-4 + (2e-3 * Math.Abs(numeric))), $"part {part}, element {k}");
            }
        }
    }

    [Test]
    public void BadInputIsNamed()
    {
        using var scope = NewDisposeScope();
        Random random = RandomData.NewRandom();
        (Tensor[] s, _) = Draw(random, 3, StudentShapes);
        (Tensor[] t, _) = Draw(random, 3, TeacherShapes);
        (Tensor[] other, _) = Draw(random, 4, TeacherShapes);
        ArgumentAssert.Rejects(() => GpuDistill.Losses.InstanceRelationGraph(Graph(s), Graph(other)), "teacher", "batch size");
        Tensor[] nan = [s[0], s[1].clone(), s[2], s[3]];
        nan[1][0, 0, 0, 0] = float.NaN;
        ArgumentAssert.Rejects(() => GpuDistill.Losses.InstanceRelationGraph(Graph(nan), Graph(t)), "student.First", "finite");
        // A later map with three times the channels cannot be compared with the earlier one.
        Tensor[] wide = [s[0], s[1], zeros(3, 6, 2, 2), s[3]];
        ArgumentAssert.Rejects(() => GpuDistill.Losses.InstanceRelationGraph(Graph(wide), Graph(t)), "student", "twice the channels");
        ArgumentAssert.Rejects(() => GpuDistill.Losses.InstanceRelationGraph(Graph(s), Graph(t), vertexWeight: -1), "vertexWeight", "");
    }

    private static RelationGraphFeatures Graph(Tensor[] parts) => new(parts[0], parts[1], parts[2], parts[3]);

    private static (Tensor[] Tensors, GraphMap[] Reference) Draw(Random random, int batch, int[][] shapes)
    {
        var tensors = new Tensor[shapes.Length];
        var maps = new GraphMap[shapes.Length];
        for (int i = 0; i < shapes.Length; i++)
        {
            int[] shape = shapes[i];
            int perExample = shape.Aggregate(1, (a, b) => a * b);
            float[] values = RandomData.Uniform(random, (long)batch * perExample, 2.0);
            tensors[i] = tensor(values, [batch, .. shape.Select(d => (long)d)]);
            maps[i] = shape.Length == 1
                ? new GraphMap(ReferenceMath.ToDouble(values), batch, shape[0], 1, 1)
                : new GraphMap(ReferenceMath.ToDouble(values), batch, shape[0], shape[1], shape[2]);
        }
        return (tensors, maps);
    }
}
