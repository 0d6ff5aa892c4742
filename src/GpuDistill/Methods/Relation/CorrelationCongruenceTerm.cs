using GpuDistill.Features;
using GpuDistill.Models;
using static TorchSharp.torch;
using TorchSharp.Modules;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// Correlation congruence as RepDistiller trains it (Peng et al. 2019; loss-spec 3.4a): the student's and the
/// teacher's embeddings are each mapped by a learned linear layer to 128 dimensions, and the term is
/// <see cref="Losses.CorrelationCongruenceRepDistiller"/> of the two. Both linear layers train (the teacher's
/// through the loss's gradient to its input; the teacher itself stays frozen). Default layer: the embedding each
/// classifier head reads. RepDistiller weights it 0.02.
/// </summary>
/// <param name="settings">Layers named by the user, if any.</param>
public sealed class CorrelationCongruenceTerm(LayerSettings settings) : PairedFeatureTerm(settings), IAdaptedTerm, IDisposable
{
    /// <summary>The registry's description: method cc = cc:0.02,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<LayerSettings>("cc",
        "Correlation congruence as RepDistiller trains it: learned 128-d embeddings, correlations match (Peng et al. 2019); default: head:in.",
        s => new CorrelationCongruenceTerm(s), new BuiltInMethod("cc", "cc:0.02,ce:1")
        {
            Grid = TuningGrid.Scaled("cc:0.02,ce:1", 0.1, 0.3, 1),
        });

    /// <summary>Width of the shared embedding (RepDistiller's <c>feat_dim</c>).</summary>
    public const int EmbeddingWidth = 128;

    private List<(Linear Student, Linear Teacher)> embeddings = [];
    private AdapterList? adapter;

    /// <inheritdoc/>
    public override string Name => "cc";

    /// <inheritdoc/>
    public Module? Adapter => adapter;

    /// <inheritdoc/>
    public void BuildAdapter(IReadOnlyDictionary<string, long[]> studentShapes, IReadOnlyDictionary<string, long[]> teacherShapes, long seed)
    {
        ArgumentNullException.ThrowIfNull(studentShapes);
        ArgumentNullException.ThrowIfNull(teacherShapes);
        manual_seed(seed);
        embeddings = [.. StudentLayers.Select((layer, i) => (
            Linear(Width(studentShapes[layer]), EmbeddingWidth),
            Linear(Width(teacherShapes[TeacherLayers[i]]), EmbeddingWidth)))];
        adapter = new AdapterList(embeddings.SelectMany(e => new Module[] { e.Student, e.Teacher }));

        static long Width(long[] shape) => shape.Skip(1).Aggregate(1L, (a, b) => a * b);
    }

    /// <summary>Frees the embeddings.</summary>
    public void Dispose() => adapter?.Dispose();

    /// <inheritdoc/>
    protected override IReadOnlyList<string> DefaultLayers(DistillModel model) => LayerChoice.Embedding(model);

    /// <inheritdoc/>
    protected override Tensor PairLoss(int index, Tensor student, Tensor teacher)
    {
        if (adapter is null)
            throw new InvalidOperationException("CC's embeddings are not built: the trainer builds them before the first step.");
        (Linear s, Linear t) = embeddings[index];
        return Losses.CorrelationCongruenceRepDistiller(s.call(student.flatten(1)), t.call(teacher.flatten(1)));
    }
}
