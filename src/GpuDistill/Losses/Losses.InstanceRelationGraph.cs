using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill;

/// <summary>What the instance relationship graph reads of one network for one batch.</summary>
/// <param name="Logits">The logits [B, C] (the graph's vertices).</param>
/// <param name="First">An earlier feature map [B, C1, H1, W1].</param>
/// <param name="Second">A later feature map [B, C2, H2, W2]: C2 = C1 or 2 C1, H2 &lt;= H1, W2 &lt;= W1.</param>
/// <param name="Embedding">The embedding the classifier reads [B, D].</param>
public sealed record RelationGraphFeatures(Tensor Logits, Tensor First, Tensor Second, Tensor Embedding);

public static partial class Losses
{
    /// <summary>
    /// Instance relationship graph distillation (IRG, Liu et al., CVPR 2019): the batch is a graph whose vertices are
    /// the examples and whose edges are their distances; the student matches the teacher's vertices, edges and the
    /// transformation of each example between two layers:
    /// vertex * mse(z_s, z_t) + edge * mean over {First, Second, Embedding} of mse(E_s, E_t) + transformation * mse(T_s, T_t).
    /// </summary>
    /// <remarks>
    /// As the public IRG code (Knowledge-Distillation-Zoo) computes it: an edge matrix E holds the squared Euclidean
    /// distances between the batch's examples (clamped at 1e-12, 0 on the diagonal) divided by its largest entry; the
    /// transformation T_b is the squared distance between example b's First map (average-pooled to Second's size)
    /// and its Second map (whose channel pairs are averaged when it has twice First's channels), divided by the
    /// batch's largest. Student and teacher may differ in widths; their logits must match in shape. The divisions
    /// use a floor of 1e-12, so a batch of one (all edges 0) gives finite values. Written in TorchSharp ops (the
    /// edges are GEMMs); <c>loss.backward()</c> gives the student's four tensors their gradients and the teacher's
    /// nothing. The reference weights are 0.1, 5 and 5.
    /// </remarks>
    /// <param name="student">The student's tensors (float32, CPU).</param>
    /// <param name="teacher">The teacher's tensors (float32, CPU; detached here).</param>
    /// <param name="vertexWeight">Weight of the vertex (logit) term, finite and &gt;= 0.</param>
    /// <param name="edgeWeight">Weight of the edge term, finite and &gt;= 0.</param>
    /// <param name="transformationWeight">Weight of the transformation term, finite and &gt;= 0.</param>
    /// <returns>A scalar float32 tensor.</returns>
    public static Tensor InstanceRelationGraph(RelationGraphFeatures student, RelationGraphFeatures teacher,
        double vertexWeight = 0.1, double edgeWeight = 5.0, double transformationWeight = 5.0)
    {
        ArgumentNullException.ThrowIfNull(student);
        ArgumentNullException.ThrowIfNull(teacher);
        TensorChecks.RequireWeight(vertexWeight, nameof(vertexWeight));
        TensorChecks.RequireWeight(edgeWeight, nameof(edgeWeight));
        TensorChecks.RequireWeight(transformationWeight, nameof(transformationWeight));
        CheckGraph(student, nameof(student));
        CheckGraph(teacher, nameof(teacher));
        if (teacher.Logits.shape[0] != student.Logits.shape[0])
            throw new ArgumentException(
                $"{nameof(teacher)} must have the batch size of {nameof(student)} ({student.Logits.shape[0]}); got logits {TensorChecks.Shape(teacher.Logits)}.",
                nameof(teacher));
        TensorChecks.RequireSameShape(student.Logits, $"{nameof(student)}.{nameof(RelationGraphFeatures.Logits)}",
            teacher.Logits, $"{nameof(teacher)}.{nameof(RelationGraphFeatures.Logits)}");

        using Scalar vertex = vertexWeight.ToScalar(), edge = (edgeWeight / 3).ToScalar(), transformation = transformationWeight.ToScalar();
        Tensor logitsT = teacher.Logits.detach();
        Tensor edges = nn.functional.mse_loss(NormalisedEdges(student.Embedding), NormalisedEdges(teacher.Embedding.detach()))
            .add(nn.functional.mse_loss(NormalisedEdges(student.First), NormalisedEdges(teacher.First.detach())), Scalars.One)
            .add(nn.functional.mse_loss(NormalisedEdges(student.Second), NormalisedEdges(teacher.Second.detach())), Scalars.One);
        Tensor transform = nn.functional.mse_loss(
            NormalisedTransformation(student.First, student.Second, nameof(student)),
            NormalisedTransformation(teacher.First.detach(), teacher.Second.detach(), nameof(teacher)));
        return nn.functional.mse_loss(student.Logits, logitsT).mul(vertex)
            .add(edges, edge)
            .add(transform, transformation);
    }

    private static void CheckGraph(RelationGraphFeatures graph, string name)
    {
        ArgumentNullException.ThrowIfNull(graph.Logits, $"{name}.{nameof(RelationGraphFeatures.Logits)}");
        ArgumentNullException.ThrowIfNull(graph.First, $"{name}.{nameof(RelationGraphFeatures.First)}");
        ArgumentNullException.ThrowIfNull(graph.Second, $"{name}.{nameof(RelationGraphFeatures.Second)}");
        ArgumentNullException.ThrowIfNull(graph.Embedding, $"{name}.{nameof(RelationGraphFeatures.Embedding)}");
        TensorChecks.RequireFloatCpu(graph.Logits, $"{name}.{nameof(RelationGraphFeatures.Logits)}", 2);
        TensorChecks.RequireFloatCpu(graph.First, $"{name}.{nameof(RelationGraphFeatures.First)}", 4);
        TensorChecks.RequireFloatCpu(graph.Second, $"{name}.{nameof(RelationGraphFeatures.Second)}", 4);
        (int batch, _) = TensorChecks.RequireRelationFeatures(graph.Embedding, $"{name}.{nameof(RelationGraphFeatures.Embedding)}");
        foreach ((Tensor t, string part) in new[] { (graph.Logits, "Logits"), (graph.First, "First"), (graph.Second, "Second"), (graph.Embedding, "Embedding") })
        {
            if (t.shape[0] != batch)
                throw new ArgumentException($"{name}.{part} must have the batch size of {name}.Embedding ({batch}); got shape {TensorChecks.Shape(t)}.", name);
            TensorChecks.RequireFinite(t, $"{name}.{part}");
        }
        (long c1, long h1, long w1) = (graph.First.shape[1], graph.First.shape[2], graph.First.shape[3]);
        (long c2, long h2, long w2) = (graph.Second.shape[1], graph.Second.shape[2], graph.Second.shape[3]);
        if ((c2 != c1 && c2 != 2 * c1) || h2 > h1 || w2 > w1)
            throw new ArgumentException(
                $"IRG's transformation compares {name}.First with {name}.Second, which must have the same or twice the channels and no larger a map; got {TensorChecks.Shape(graph.First)} and {TensorChecks.Shape(graph.Second)}.",
                name);
    }

    /// <summary>Squared distances between the batch's examples, 0 on the diagonal, over the largest.</summary>
    private static Tensor NormalisedEdges(Tensor features)
    {
        using Scalar minusTwo = (-2.0).ToScalar(), floor = 1e-12.ToScalar(), zero = 0.0.ToScalar();
        Tensor f = features.flatten(1);
        Tensor square = f.square().sum(1);
        Tensor d = square.unsqueeze(1).add(square.unsqueeze(0), Scalars.One).add(f.mm(f.t()), minusTwo).clamp_min(floor);
        using Tensor diagonal = eye(f.shape[0], dtype: ScalarType.Bool);
        d = d.masked_fill(diagonal, zero);
        return d.div(d.max().clamp_min(floor));
    }

    /// <summary>Each example's squared distance between its two maps (made comparable), over the batch's largest.</summary>
    private static Tensor NormalisedTransformation(Tensor first, Tensor second, string name)
    {
        using Scalar floor = 1e-12.ToScalar(), half = 0.5.ToScalar();
        Tensor a = first.shape[2] != second.shape[2] || first.shape[3] != second.shape[3]
            ? nn.functional.adaptive_avg_pool2d(first, [second.shape[2], second.shape[3]])
            : first;
        Tensor b = second.shape[1] == 2 * first.shape[1]
            ? second.slice(1, 0, second.shape[1], 2).add(second.slice(1, 1, second.shape[1], 2), Scalars.One).mul(half)
            : second;
        if (a.numel() != b.numel())
            throw new ArgumentException($"IRG's transformation: {name}'s maps do not align after pooling ({TensorChecks.Shape(a)} vs {TensorChecks.Shape(b)}).", name);
        Tensor distance = a.flatten(1).add(b.flatten(1), Scalars.MinusOne).square().sum(1).clamp_min(floor);
        return distance.div(distance.max().clamp_min(floor));
    }
}
