using System.Globalization;
using GpuDistill.Interop;
using GpuDistill.Validation;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// Everything MHGD learns for a chain of layers L_0 ... L_n: one <see cref="MultiHeadAttentionGraph"/> per
/// consecutive pair (L_{k-1}, L_k), sized by the teacher's widths and fitted on the teacher, then frozen; and, where
/// a student layer is narrower or wider than the teacher's, a linear map of the student's vector to the teacher's
/// width, which trains with the student.
/// </summary>
/// <remarks>
/// The reference code feeds the student's vectors to the teacher's frozen head directly, since its student and
/// teacher share widths. Ours differ (small-cnn 8/16/32 against teacher-cnn 32/64/128 channels), so each student
/// vector goes through a bias-free linear map and an L2 normalisation first (adapted; like FitNets' regressor or the
/// reference's own maps for AT and FitNets when widths differ). Equal widths get no map, as in the code.
/// </remarks>
public sealed class MultiHeadGraphNetwork : Module
{
    /// <summary>-1, the alpha of a subtraction (held for the process: see <see cref="Scalars"/>).</summary>
    private static readonly Scalar MinusOne = (-1.0).ToScalar();

    private readonly MultiHeadAttentionGraph[] graphs;
    private readonly TorchSharp.Modules.Linear?[] maps;
    private readonly Tensor fitted;

    /// <summary>Builds the network for the layers' vector widths.</summary>
    /// <param name="studentWidths">The student layers' channels (or widths of [B, D] layers), in chain order.</param>
    /// <param name="teacherWidths">The teacher layers' channels, in the same order.</param>
    /// <param name="heads">Attention heads per graph.</param>
    public MultiHeadGraphNetwork(IReadOnlyList<long> studentWidths, IReadOnlyList<long> teacherWidths, int heads)
        : base(nameof(MultiHeadGraphNetwork))
    {
        ArgumentNullException.ThrowIfNull(studentWidths);
        ArgumentNullException.ThrowIfNull(teacherWidths);
        if (teacherWidths.Count < 2)
            throw new ArgumentException($"MHGD relates consecutive layers, so it needs at least 2; got {teacherWidths.Count}.", nameof(teacherWidths));
        if (studentWidths.Count != teacherWidths.Count)
            throw new ArgumentException(
                $"MHGD pairs student and teacher layers by position; got {studentWidths.Count} student and {teacherWidths.Count} teacher layers.", nameof(studentWidths));
        StudentWidths = [.. studentWidths];
        TeacherWidths = [.. teacherWidths];
        graphs = [.. Enumerable.Range(1, teacherWidths.Count - 1).Select(k => new MultiHeadAttentionGraph(teacherWidths[k - 1], teacherWidths[k], heads))];
        maps = [.. studentWidths.Select((w, k) => w == teacherWidths[k] ? null : Linear(w, teacherWidths[k], hasBias: false))];
        for (int k = 0; k < graphs.Length; k++) register_module("graph" + k.ToString(CultureInfo.InvariantCulture), graphs[k]);
        for (int k = 0; k < maps.Length; k++)
        {
            if (maps[k] is { } map) register_module("map" + k.ToString(CultureInfo.InvariantCulture), map);
        }
        fitted = zeros(1);
        register_buffer("fitted", fitted);
        SetGraphsTrainable(false);
    }

    /// <summary>The student layers' widths.</summary>
    public IReadOnlyList<long> StudentWidths { get; }

    /// <summary>The teacher layers' widths.</summary>
    public IReadOnlyList<long> TeacherWidths { get; }

    /// <summary>The graph networks, pair k relating layer k to layer k + 1.</summary>
    public IReadOnlyList<MultiHeadAttentionGraph> Graphs => graphs;

    /// <summary>The student's width maps by layer; null where the widths are equal.</summary>
    public IReadOnlyList<TorchSharp.Modules.Linear?> Maps => maps;

    /// <summary>Whether the graphs were fitted on the teacher (saved with the checkpoint).</summary>
    public bool IsFitted => fitted.item<float>() != 0;

    /// <summary>Marks the graphs fitted.</summary>
    public void MarkFitted()
    {
        using var noGrad = no_grad();
        fitted.fill_(Scalars.One);
    }

    /// <summary>The graph networks' parameters (what the teacher stage fits).</summary>
    public IEnumerable<TorchSharp.Modules.Parameter> GraphParameters() => graphs.SelectMany(g => g.parameters());

    /// <summary>Lets the teacher stage train the graphs (true) or freezes them (false, the default), so the student's
    /// optimiser, which keeps only parameters that require a gradient, never moves them.</summary>
    /// <param name="trainable">Whether the graphs require gradients.</param>
    public void SetGraphsTrainable(bool trainable)
    {
        foreach (TorchSharp.Modules.Parameter p in GraphParameters()) p.requires_grad = trainable;
    }

    /// <summary>The teacher's vectors of each layer (no gradient).</summary>
    /// <param name="teacherFeatures">The teacher's layers in chain order, [B, C, H, W] or [B, D].</param>
    /// <returns>Unit vectors [B, C_k] per layer.</returns>
    public IReadOnlyList<Tensor> TeacherVectors(IReadOnlyList<Tensor> teacherFeatures)
    {
        ArgumentNullException.ThrowIfNull(teacherFeatures);
        CheckLayers(teacherFeatures, TeacherWidths, nameof(teacherFeatures), "teacher");
        using var noGrad = no_grad();
        return [.. teacherFeatures.Select(f => SingularVectors.TopRight(f.detach()))];
    }

    /// <summary>The student's vectors of each layer, mapped to the teacher's widths where they differ.</summary>
    /// <param name="studentFeatures">The student's layers in chain order.</param>
    /// <returns>Unit vectors [B, teacher C_k] per layer, with gradients back to the features and the maps.</returns>
    public IReadOnlyList<Tensor> StudentVectors(IReadOnlyList<Tensor> studentFeatures)
    {
        ArgumentNullException.ThrowIfNull(studentFeatures);
        CheckLayers(studentFeatures, StudentWidths, nameof(studentFeatures), "student");
        var vectors = new Tensor[studentFeatures.Count];
        for (int k = 0; k < vectors.Length; k++)
        {
            Tensor v = SingularVectors.TopRight(studentFeatures[k]);
            vectors[k] = maps[k] is { } map ? functional.normalize(map.call(v), p: 2, dim: 1, eps: 1e-12) : v;
        }
        return vectors;
    }

    /// <summary>The teacher stage's loss for one batch: the estimators' cosine losses summed over the pairs.</summary>
    /// <param name="teacherVectors">From <see cref="TeacherVectors"/>.</param>
    /// <returns>A scalar with gradients for the graphs' parameters.</returns>
    public Tensor FitLoss(IReadOnlyList<Tensor> teacherVectors)
    {
        ArgumentNullException.ThrowIfNull(teacherVectors);
        Tensor? total = null;
        for (int k = 0; k < graphs.Length; k++)
        {
            Tensor pair = graphs[k].FitLoss(teacherVectors[k + 1], teacherVectors[k]);
            total = total is null ? pair : total.add(pair, Scalars.One);
        }
        return total!;
    }

    /// <summary>
    /// MHGD's distillation loss: for each pair, the teacher's and the student's graphs through the frozen head
    /// (running statistics), each shifted by the teacher graph's row mean and squashed by tanh, and
    /// sum over heads and rows of KL(softmax(student row) || softmax(teacher row)); summed over the pairs.
    /// </summary>
    /// <param name="studentFeatures">The student's layers in chain order (with autograd history).</param>
    /// <param name="teacherFeatures">The teacher's layers in the same order (detached).</param>
    /// <param name="teacherVectors"><see cref="TeacherVectors"/> of <paramref name="teacherFeatures"/> when the caller
    /// has them already (kept per image); null to compute them.</param>
    /// <returns>A scalar with gradients back to the student's features and width maps.</returns>
    public Tensor Loss(IReadOnlyList<Tensor> studentFeatures, IReadOnlyList<Tensor> teacherFeatures, IReadOnlyList<Tensor>? teacherVectors = null)
    {
        ArgumentNullException.ThrowIfNull(studentFeatures);
        ArgumentNullException.ThrowIfNull(teacherFeatures);
        CheckLayers(studentFeatures, StudentWidths, nameof(studentFeatures), "student");
        CheckLayers(teacherFeatures, TeacherWidths, nameof(teacherFeatures), "teacher");
        long batch = studentFeatures[0].shape[0];
        if (teacherFeatures[0].shape[0] != batch)
            throw new ArgumentException(
                $"{nameof(teacherFeatures)} must have the student's batch size ({batch}); got {teacherFeatures[0].shape[0]}.", nameof(teacherFeatures));
        using var scope = NewDisposeScope();
        if (teacherVectors is not null && (teacherVectors.Count != TeacherWidths.Count
            || teacherVectors.Select((v, k) => v.dim() != 2 || v.shape[0] != batch || v.shape[1] != TeacherWidths[k]).Any(bad => bad)))
            throw new ArgumentException($"{nameof(teacherVectors)} must hold one [{batch}, width] row block per teacher layer ({string.Join(", ", TeacherWidths)}).", nameof(teacherVectors));
        IReadOnlyList<Tensor> t = teacherVectors ?? TeacherVectors(teacherFeatures);
        IReadOnlyList<Tensor> s = StudentVectors(studentFeatures);
        Tensor? total = null;
        for (int k = 0; k < graphs.Length; k++)
        {
            Tensor teacherGraph;
            using (no_grad()) teacherGraph = graphs[k].Graph(t[k + 1], t[k], batchStatistics: false);
            Tensor studentGraph = graphs[k].Graph(s[k + 1], s[k], batchStatistics: false);
            Tensor pair = GraphDivergence(studentGraph, teacherGraph);
            total = total is null ? pair : total.add(pair, Scalars.One);
        }
        return total!.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The reference code's graph loss: with m the teacher graph's row means, A_s = tanh(G_s - m), A_t = tanh(G_t - m),
    /// sum over heads and rows of KL(softmax(A_s row) || softmax(A_t row)) (its <c>kld_loss(G_S, G_T)</c>).
    /// </summary>
    /// <param name="studentGraph">G_s [H, B, B].</param>
    /// <param name="teacherGraph">G_t [H, B, B] (no gradient).</param>
    /// <returns>A scalar.</returns>
    public static Tensor GraphDivergence(Tensor studentGraph, Tensor teacherGraph)
    {
        ArgumentNullException.ThrowIfNull(studentGraph);
        ArgumentNullException.ThrowIfNull(teacherGraph);
        using var scope = NewDisposeScope();
        Tensor teacher = teacherGraph.detach();
        Tensor mean = teacher.mean([-1], keepdim: true);
        Tensor a = studentGraph.add(mean, MinusOne).tanh();
        Tensor b = teacher.add(mean, MinusOne).tanh();
        Tensor logP = functional.log_softmax(a, -1);
        Tensor logQ = functional.log_softmax(b, -1);
        return logP.exp().mul(logP.add(logQ, MinusOne)).sum().MoveToOuterDisposeScope();
    }

    /// <summary>Checks a chain of layers: count, widths, one batch size.</summary>
    private static void CheckLayers(IReadOnlyList<Tensor> layers, IReadOnlyList<long> widths, string name, string model)
    {
        if (layers.Count != widths.Count)
            throw new ArgumentException($"{name} must hold the {widths.Count} {model} layers of the chain; got {layers.Count}.", name);
        for (int k = 0; k < layers.Count; k++)
        {
            Tensor layer = layers[k] ?? throw new ArgumentException($"{name}[{k}] is null.", name);
            TensorChecks.RequireFeaturePair(layer, name, layer, name, rank: null, minRank: 2);
            if (layer.shape[0] != layers[0].shape[0])
                throw new ArgumentException(
                    $"{name}[{k}] must have the batch size of {name}[0] ({layers[0].shape[0]}); got shape {TensorChecks.Shape(layer)}.", name);
            if (layer.dim() != 2 && layer.dim() != 4)
                throw new ArgumentException($"{name}[{k}] must be [B, C, H, W] or [B, D]; got shape {TensorChecks.Shape(layer)}.", name);
            if (layer.shape[1] != widths[k])
                throw new ArgumentException($"{name}[{k}] must have {widths[k]} channels (the width the network was built for); got shape {TensorChecks.Shape(layer)}.", name);
            TensorChecks.RequireFiniteFeatures(layer, name);
        }
    }
}
