using GpuDistill.Methods;
using GpuDistill.Tests.Generic;
using GpuDistill.Tests.References;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Losses;

/// <summary>
/// MHGD's graph computation against the float64 reference: the singular vectors, the attention maps from given
/// weights, and the distillation loss with its gradient (the reference's, by central finite differences), with an
/// upstream gradient of 2.5, on odd batch sizes and student and teacher layers of different widths; degenerate
/// batches; bad input.
/// </summary>
public sealed class MultiHeadGraphLossTests
{
    private const double UpstreamGradient = 2.5;

    /// <summary>Chains of layers (a rows layer [B, D] is MapShape(B, D, 0, 0)) and the number of heads.</summary>
    public static IEnumerable<TestCaseData> Chains()
    {
        yield return Case(1, 2, [(3, 4, 4), (5, 2, 3)], [(4, 4, 4), (6, 2, 3)]);
        yield return Case(2, 3, [(3, 5, 5), (4, 3, 3), (2, 3, 3)], [(5, 5, 5), (6, 3, 3), (7, 3, 3)]);
        yield return Case(3, 2, [(6, 0, 0), (3, 2, 2)], [(4, 2, 2), (5, 0, 0)]);
        yield return Case(37, 2, [(3, 3, 3), (4, 2, 2)], [(5, 3, 3), (4, 2, 2)]);
        yield return Case(5, 4, [(2, 3, 3), (3, 2, 2)], [(9, 2, 2), (3, 3, 3)]);
    }

    [TestCaseSource(nameof(Chains))]
    public void LossAndGradientMatchTheReference(int batch, int heads, MapShape[] studentShapes, MapShape[] teacherShapes)
    {
        Random random = RandomData.NewRandom();
        using MultiHeadGraphNetwork network = Network(studentShapes, teacherShapes, heads, random);
        double[][] student = [.. studentShapes.Select(s => NonNegative(random, MultiHeadGraphReference.Count(s)))];
        double[][] teacher = [.. teacherShapes.Select(s => NonNegative(random, MultiHeadGraphReference.Count(s)))];
        AssertMatchesReference(network, student, studentShapes, teacher, teacherShapes);
    }

    [Test]
    public void AttentionMapsMatchTheReference()
    {
        Random random = RandomData.NewRandom();
        MapShape[] s = [new(7, 3, 2, 2), new(7, 4, 2, 2)], t = [new(7, 5, 2, 2), new(7, 6, 2, 2)];
        using MultiHeadGraphNetwork network = Network(s, t, 3, random);
        var weights = MultiHeadGraphReference.From(network);
        using var scope = NewDisposeScope();
        double[][] previous = [.. Enumerable.Range(0, 7).Select(_ => NonNegative(random, 5))];
        double[][] current = [.. Enumerable.Range(0, 7).Select(_ => NonNegative(random, 6))];
        Tensor graph = network.Graphs[0].Graph(Rows(current), Rows(previous), batchStatistics: false);
        double[][,] expected = MultiHeadGraphReference.Graph(weights.Heads[0], current, previous);
        float[] actual = TensorData.ToArray(graph);
        Assert.That(graph.shape, Is.EqualTo(new long[] { 3, 7, 7 }));
        double largest = expected.SelectMany(g => g.Cast<double>()).Max(Math.Abs);
        for (int h = 0; h < 3; h++)
        {
            for (int i = 0; i < 7; i++)
            {
                for (int j = 0; j < 7; j++)
                    Assert.That(actual[(h * 7 + i) * 7 + j], Is.EqualTo(expected[h][i, j]).Within(1e-5 * largest), $"G[{h}, {i}, {j}]");
            }
        }
    }

    [TestCase(1, 3, 4, 4)]
    [TestCase(3, 5, 3, 2)]
    [TestCase(4, 6, 2, 2)]   // H*W < C: X^T X has rank 4 and a repeated zero eigenvalue
    [TestCase(37, 4, 3, 3)]
    [TestCase(2, 1, 3, 3)]
    public void SingularVectorsAndTheirGradientMatchTheReference(int b, int c, int h, int w)
    {
        Random random = RandomData.NewRandom();
        var shape = new MapShape(b, c, h, w);
        AssertVectorsAndGradient(NonNegative(random, shape.Count), shape, random);
    }

    [Test]
    public void VectorsAndGradientWhoseTopPairIsCloseMatchTheReference()
    {
        // The power iteration does not settle; eigh gives the vectors, and the gaps of 10% enter the gradient.
        Random random = RandomData.NewRandom();
        var shape = new MapShape(3, 8, 4, 4);
        AssertVectorsAndGradient(CloseTopPair(random, shape), shape, random);
    }

    [Test]
    public void APowerIterationStuckOnTheSecondEigenvectorFallsBackToTheTop()
    {
        // Example 0: X = [[2, -2], [1, 1]] (channels [2, 1] and [-2, 1]), so X^T X = [[5, -3], [-3, 5]]: its row sums
        // (2, 2) are the eigenvector of eigenvalue 2, which the power iteration keeps exactly; the top one (1, -1),
        // eigenvalue 8, is orthogonal to them. The Cholesky factor of the gradient's solve fails there, and eigh gives
        // the top vector. Its entries sum to 0, so its sign is arbitrary: the probe is squared.
        Random random = RandomData.NewRandom();
        var shape = new MapShape(2, 2, 1, 2);
        double[] x = [2, 1, -2, 1, .. NonNegative(random, 4)];
        double[] probe = [.. Enumerable.Range(0, 4).Select(_ => random.NextDouble() * 2 - 1)];
        using var scope = NewDisposeScope();
        Tensor features = tensor(x.Select(v => (float)v).ToArray(), shape.Dims).requires_grad_(true);
        Tensor vectors = SingularVectors.TopRight(features);
        vectors.mul(tensor(probe.Select(v => (float)v).ToArray(), [2, 2])).sum(1).square().sum().backward();
        float[] actual = TensorData.ToArray(vectors);
        Assert.That(Math.Abs(actual[0]), Is.EqualTo(Math.Sqrt(0.5)).Within(1e-6), "the top vector, not (1, 1)");
        Assert.That(actual[1], Is.EqualTo(-actual[0]).Within(1e-6));
        double Probe(double[] map) => Enumerable.Range(0, 2).Sum(i =>
            Math.Pow(MultiHeadGraphReference.TopVector(map, shape, i).Select((v, k) => v * probe[i * 2 + k]).Sum(), 2));
        AssertCloseToFiniteDifferences(Probe, x, TensorData.ToArray(features.grad!), 1e-4);
    }

    private static void AssertVectorsAndGradient(double[] x, MapShape shape, Random random)
    {
        (int b, int c) = (shape.Batch, shape.Channels);
        double[] probe = [.. Enumerable.Range(0, b * c).Select(_ => random.NextDouble() * 2 - 1)];
        using var scope = NewDisposeScope();
        Tensor features = tensor(x.Select(v => (float)v).ToArray(), shape.Dims).requires_grad_(true);
        Tensor vectors = SingularVectors.TopRight(features);
        vectors.mul(tensor(probe.Select(v => (float)v).ToArray(), [b, c])).sum().backward();
        float[] actual = TensorData.ToArray(vectors);
        float[] gradient = TensorData.ToArray(features.grad!);

        double Probe(double[] map) => Enumerable.Range(0, b).Sum(i =>
            MultiHeadGraphReference.TopVector(map, shape, i).Select((v, k) => v * probe[i * c + k]).Sum());
        for (int i = 0; i < b; i++)
        {
            double[] expected = MultiHeadGraphReference.TopVector(x, shape, i);
            for (int k = 0; k < c; k++) Assert.That(actual[i * c + k], Is.EqualTo(expected[k]).Within(1e-5), $"v[{i}, {k}]");
        }
        AssertCloseToFiniteDifferences(Probe, x, gradient, 1e-4);
    }

    [Test]
    public void TeacherVectorsTakeTheSmallerGramAndAgreeWithTheLargerOne()
    {
        // H*W = 4 < C = 9: without a gradient the [4, 4] Gram X X^T is decomposed instead of the [9, 9] X^T X.
        Random random = RandomData.NewRandom();
        var shape = new MapShape(6, 9, 2, 2);
        AssertTeacherVectors(NonNegative(random, shape.Count), shape);
    }

    [TestCase(5, 40, 7, 7)]    // X^T X [40, 40], as a teacher's middle stage
    [TestCase(4, 64, 6, 6)]    // H*W = 36 < 64: X X^T [36, 36]
    [TestCase(3, 1, 5, 5)]     // one channel: the vector is 1
    public void TeacherVectorsOfWiderMapsMatchTheReference(int b, int c, int h, int w)
    {
        Random random = RandomData.NewRandom();
        var shape = new MapShape(b, c, h, w);
        double[] x = NonNegative(random, shape.Count);
        AssertTeacherVectors(x, shape);
    }

    [Test]
    public void TeacherVectorsWhoseTopPairIsCloseMatchTheReference()
    {
        // The top two eigenvalues differ by 10%: the power iteration does not settle and the rows are recomputed by eigh.
        Random random = RandomData.NewRandom();
        var shape = new MapShape(3, 8, 4, 4);
        AssertTeacherVectors(CloseTopPair(random, shape), shape);
    }

    /// <summary>Maps whose top two eigenvalues differ by 10%: two channel groups (halves of an even channel count) on
    /// disjoint pixels, the second with 0.9 of the first's energy.</summary>
    private static double[] CloseTopPair(Random random, MapShape shape)
    {
        int hw = shape.Height * shape.Width, c = shape.Channels, half = c / 2;
        var x = new double[shape.Count];
        double[] block = NonNegative(random, half * (hw / 2));
        for (int i = 0; i < shape.Batch; i++)
        {
            for (int k = 0; k < half; k++)
            {
                for (int p = 0; p < hw / 2; p++)
                {
                    double value = block[k * (hw / 2) + p];
                    x[(i * c + k) * hw + p] = value;
                    x[(i * c + half + k) * hw + hw / 2 + p] = (float)(value * Math.Sqrt(0.9));
                }
            }
        }
        return x;
    }

    private static void AssertTeacherVectors(double[] x, MapShape shape)
    {
        using var scope = NewDisposeScope();
        Tensor vectors;
        using (no_grad()) vectors = SingularVectors.TopRight(tensor(x.Select(v => (float)v).ToArray(), shape.Dims));
        float[] actual = TensorData.ToArray(vectors);
        for (int i = 0; i < shape.Batch; i++)
        {
            double[] expected = MultiHeadGraphReference.TopVector(x, shape, i);
            for (int k = 0; k < shape.Channels; k++)
                Assert.That(actual[i * shape.Channels + k], Is.EqualTo(expected[k]).Within(1e-5), $"v[{i}, {k}]");
        }
    }

    [Test]
    public void DegenerateBatchesGiveFiniteLossesAndGradients()
    {
        Random random = RandomData.NewRandom();
        MapShape[] s = [new(4, 3, 3, 3), new(4, 4, 2, 2)], t = [new(4, 5, 3, 3), new(4, 6, 2, 2)];
        using MultiHeadGraphNetwork network = Network(s, t, 2, random);
        double[] example = NonNegative(random, 3 * 9);
        double[][] cases =
        [
            new double[s[0].Count],                                                         // every example zero
            [.. Enumerable.Range(0, 4).SelectMany(_ => example)],                           // every example equal
            [.. new double[27].Concat(NonNegative(random, 3 * 27))],                         // one example zero
        ];
        foreach (double[] first in cases)
        {
            using var scope = NewDisposeScope();
            Tensor a = tensor(first.Select(v => (float)v).ToArray(), s[0].Dims).requires_grad_(true);
            Tensor b = tensor(NonNegative(random, s[1].Count).Select(v => (float)v).ToArray(), s[1].Dims).requires_grad_(true);
            Tensor loss = network.Loss([a, b], [Map(NonNegative(random, t[0].Count), t[0]), Map(NonNegative(random, t[1].Count), t[1])]);
            loss.backward();
            Assert.That(double.IsFinite(loss.item<float>()), "loss");
            Assert.That(TensorData.ToArray(a.grad!).All(float.IsFinite) && TensorData.ToArray(b.grad!).All(float.IsFinite), "gradients");
        }
    }

    [Test]
    public void ABatchOfOneHasNoRelationsToLearn()
    {
        // One example: each graph row has one entry, both softmaxes are 1, and the KL is 0.
        Random random = RandomData.NewRandom();
        MapShape[] s = [new(1, 3, 3, 3), new(1, 4, 2, 2)], t = [new(1, 5, 3, 3), new(1, 6, 2, 2)];
        using MultiHeadGraphNetwork network = Network(s, t, 2, random);
        using var scope = NewDisposeScope();
        Tensor loss = network.Loss([.. s.Select(x => Map(NonNegative(random, x.Count), x))], [.. t.Select(x => Map(NonNegative(random, x.Count), x))]);
        Assert.That(loss.item<float>(), Is.EqualTo(0).Within(1e-7));
    }

    [Test]
    public void BadInputIsNamed()
    {
        Random random = RandomData.NewRandom();
        MapShape[] s = [new(3, 3, 3, 3), new(3, 4, 2, 2)], t = [new(3, 5, 3, 3), new(3, 6, 2, 2)];
        using MultiHeadGraphNetwork network = Network(s, t, 2, random);
        using var scope = NewDisposeScope();
        Tensor[] student = [.. s.Select(x => Map(NonNegative(random, x.Count), x))];
        Tensor[] teacher = [.. t.Select(x => Map(NonNegative(random, x.Count), x))];
        Tensor otherBatch = Map(NonNegative(random, 2 * 5 * 9), new MapShape(2, 5, 3, 3));
        Tensor nan = student[1].clone();
        nan[1, 2, 0, 1] = tensor(float.NaN);

        ArgumentAssert.Rejects(() => network.Loss(student, [otherBatch, teacher[1]]), "teacherFeatures", "batch size");
        ArgumentAssert.Rejects(() => network.Loss(student, [teacher[0], otherBatch[.., ..6, ..2, ..2]]), "teacherFeatures", "batch size");
        ArgumentAssert.Rejects(() => network.Loss([student[0]], teacher), "studentFeatures", "2 student layers");
        ArgumentAssert.Rejects(() => network.Loss([teacher[0], student[1]], teacher), "studentFeatures", "3 channels");
        ArgumentAssert.Rejects(() => network.Loss([student[0], nan], teacher), "studentFeatures", "finite");
        ArgumentAssert.Rejects(() => network.Loss([student[0], student[1].flatten(2)], teacher), "studentFeatures", "[B, C, H, W] or [B, D]");
        ArgumentAssert.Rejects(() => network.Loss([student[0], student[1].to_type(ScalarType.Float64)], teacher), "studentFeatures", "float32");
        ArgumentAssert.Rejects(() => _ = new MultiHeadGraphNetwork([3], [5], 2), "teacherWidths", "at least 2");
        ArgumentAssert.Rejects(() => _ = new MultiHeadGraphNetwork([3, 4], [5, 6, 7], 2), "studentWidths", "by position");
        ArgumentAssert.Rejects(() => SingularVectors.TopRight(zeros(3, 4, 5)), "features", "[B, C, H, W] or [B, D]");
    }

    private static void AssertMatchesReference(MultiHeadGraphNetwork network, double[][] student, MapShape[] studentShapes,
        double[][] teacher, MapShape[] teacherShapes)
    {
        var weights = MultiHeadGraphReference.From(network);
        using var scope = NewDisposeScope();
        Tensor[] s = [.. student.Select((x, k) => Map(x, studentShapes[k]).requires_grad_(true))];
        Tensor[] t = [.. teacher.Select((x, k) => Map(x, teacherShapes[k]))];
        Tensor loss = network.Loss(s, t);
        (loss * UpstreamGradient).backward();
        double expected = MultiHeadGraphReference.Loss(weights, student, studentShapes, teacher, teacherShapes);
        TestContext.Out.WriteLine($"loss {loss.item<float>()} reference {expected}");
        Assert.That(loss.item<float>(), Is.EqualTo(expected).Within(1e-6 + 2e-5 * Math.Abs(expected)), "loss");
        Assert.That(t.All(x => x.grad is null), "the teacher gets no gradient");

        // The reference's gradient by central differences over every student element, layer by layer.
        int[] sizes = [.. student.Select(x => x.Length)];
        double[] flat = [.. student.SelectMany(x => x)];
        float[] gradient = [.. s.SelectMany(x => TensorData.ToArray(x.grad!).Select(g => g / (float)UpstreamGradient))];
        double Loss(double[] values)
        {
            double[][] layers = new double[sizes.Length][];
            for (int k = 0, offset = 0; k < sizes.Length; offset += sizes[k], k++) layers[k] = values.AsSpan(offset, sizes[k]).ToArray();
            return MultiHeadGraphReference.Loss(weights, layers, studentShapes, teacher, teacherShapes);
        }
        // When student and teacher graphs nearly agree the whole gradient can be ~1e-6 (seed 598972222: loss 1e-3,
        // largest entry 5.5e-6), below what float32 resolves of its terms (probabilities of order 1/B times unit
        // singular vectors); it is then measured against 1e-5 of the upstream gradient. Just above that floor
        // (largest entry 1.4e-4 at B = 3) float32 erred by 2.2e-4 of the largest entry once in a few runs: 5e-4.
        AssertCloseToFiniteDifferences(Loss, flat, gradient, 5e-4, floor: 1e-5 * UpstreamGradient);
    }

    /// <summary>
    /// Asserts a float32 gradient against central differences of a float64 loss, within <paramref name="tolerance"/>
    /// of the largest reference entry, or of <paramref name="floor"/> when every entry is smaller (float32 eigenvectors
    /// and graphs, summed in another order).
    /// </summary>
    private static void AssertCloseToFiniteDifferences(Func<double[], double> loss, double[] x, float[] gradient, double tolerance,
        double floor = 1e-12)
    {
        var numeric = new double[x.Length];
        var moved = (double[])x.Clone();
        for (int k = 0; k < x.Length; k++)
        {
            double h = 1e-6 * Math.Max(1, Math.Abs(x[k]));
            moved[k] = x[k] + h;
            double up = loss(moved);
            moved[k] = x[k] - h;
            double down = loss(moved);
            moved[k] = x[k];
            numeric[k] = (up - down) / (2 * h);
        }
        double largest = Math.Max(numeric.Max(Math.Abs), floor);
        TestContext.Out.WriteLine($"largest gradient {largest:G4}, worst error {numeric.Select((n, k) => Math.Abs(n - gradient[k])).Max() / largest:G3} of it");
        for (int k = 0; k < x.Length; k++)
            Assert.That(gradient[k], Is.EqualTo(numeric[k]).Within(tolerance * largest), $"element {k}");
    }

    /// <summary>A network with realistic running statistics (batch passes over random non-negative unit vectors) and
    /// random shifts.</summary>
    internal static MultiHeadGraphNetwork Network(MapShape[] studentShapes, MapShape[] teacherShapes, int heads, Random random)
    {
        manual_seed(random.Next());
        var network = new MultiHeadGraphNetwork([.. studentShapes.Select(s => (long)s.Channels)], [.. teacherShapes.Select(s => (long)s.Channels)], heads);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        for (int pass = 0; pass < 20; pass++)
        {
            for (int k = 0; k < network.Graphs.Count; k++)
            {
                MultiHeadAttentionGraph g = network.Graphs[k];
                g.Graph(UnitRows(16, g.CurrentWidth), UnitRows(16, g.PreviousWidth), batchStatistics: true);
            }
        }
        foreach (MultiHeadAttentionGraph g in network.Graphs)
        {
            g.Head.SenderNorm.Shift.copy_(randn(g.Head.SenderNorm.Shift.shape) * 0.3);
            g.Head.ReceiverNorm.Shift.copy_(randn(g.Head.ReceiverNorm.Shift.shape) * 0.3);
        }
        return network;
    }

    private static Tensor UnitRows(long rows, long width) => nn.functional.normalize(randn(rows, width).abs(), p: 2, dim: 1);

    private static TestCaseData Case(int batch, int heads, (int C, int H, int W)[] student, (int C, int H, int W)[] teacher) =>
        new TestCaseData(batch, heads, student.Select(s => new MapShape(batch, s.C, s.H, s.W)).ToArray(),
            teacher.Select(t => new MapShape(batch, t.C, t.H, t.W)).ToArray())
            .SetArgDisplayNames($"B={batch}", $"H={heads}", string.Join("/", student.Select(s => $"{s.C}x{s.H}x{s.W}")), string.Join("/", teacher.Select(t => $"{t.C}x{t.H}x{t.W}")));

    /// <summary>Uniform in [0, 2): post-ReLU layers, where the dominant singular vector is well separated.</summary>
    internal static double[] NonNegative(Random random, int count) => [.. Enumerable.Range(0, count).Select(_ => (double)(float)(random.NextDouble() * 2))];

    private static Tensor Map(double[] values, MapShape shape) => tensor(values.Select(v => (float)v).ToArray(), MultiHeadGraphReference.Dims(shape));

    private static Tensor Rows(double[][] rows) => tensor(rows.SelectMany(r => r.Select(v => (float)v)).ToArray(), [rows.Length, rows[0].Length]);
}
