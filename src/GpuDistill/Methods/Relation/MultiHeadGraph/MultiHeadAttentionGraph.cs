using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Methods;

/// <summary>
/// MHGD's multi-head attention network for one pair of layers (Lee and Song 2019, "Graph-based knowledge
/// distillation by multi-head attention network", BMVC; arXiv 1907.02226): an attention head that embeds the
/// relations between the examples' vectors of the previous layer and of the current one as H graphs [B, B], and an
/// estimator that predicts the current layer's vectors from the previous layer's through those graphs, which is what
/// the network is fitted for, on the teacher alone.
/// </summary>
/// <remarks>
/// <para>
/// As in the reference code (sseung0703/KD_methods_with_TF, <c>nets/Relation.py</c>): the head maps the current
/// vector (sender) and the previous one (receiver) each through a fully connected layer with ReLU (TensorFlow's
/// default activation of <c>fully_connected</c>) and a shift-only batch norm, to H blocks of width
/// (D_prev + D_cur) / 2, and G_h[i, j] = sender_h(i) . receiver_h(j). The estimator takes softmax_j(G), drops about
/// half of the heads per example at random (kept where its noise beats the mean over heads; values unscaled and
/// the kept heads' gradient doubled, as in the code), maps the previous vectors through fully connected + ReLU,
/// batch norm + ReLU to width (D_prev + D_cur) / 2, mixes them along each head's graph, concatenates the heads and
/// maps them back to D_cur (fully connected, ReLU, zero initial bias) before an L2 normalisation. Weights start
/// N(0, 1) as in the code's last version; biases start at 0.
/// </para>
/// <para>
/// Adapted: blocks are laid out head-major ([B, H, D]) where the code reshapes to [B, D, H]: the same function up
/// to a permutation of the learned weights. The batch norms' running statistics use momentum 0.1 (see
/// <see cref="CenteredNorm"/>).
/// </para>
/// </remarks>
public sealed class MultiHeadAttentionGraph : Module
{
    /// <summary>-1, the alpha of a subtraction (held for the process: see <see cref="Scalars"/>).</summary>
    private static readonly Scalar MinusOne = (-1.0).ToScalar();

    private readonly TorchSharp.Modules.Linear sender;
    private readonly CenteredNorm senderNorm;
    private readonly TorchSharp.Modules.Linear receiver;
    private readonly CenteredNorm receiverNorm;
    private readonly TorchSharp.Modules.Linear estimatorIn;
    private readonly CenteredNorm estimatorNorm;
    private readonly TorchSharp.Modules.Linear estimatorOut;

    /// <summary>Builds the network for a previous layer of width <paramref name="previousWidth"/> and a current one of
    /// <paramref name="currentWidth"/>.</summary>
    /// <param name="previousWidth">D_prev, the previous layer's vector width (its channels).</param>
    /// <param name="currentWidth">D_cur, the current layer's.</param>
    /// <param name="heads">H, the number of attention heads (8 in the paper).</param>
    public MultiHeadAttentionGraph(long previousWidth, long currentWidth, int heads)
        : base(nameof(MultiHeadAttentionGraph))
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(previousWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(currentWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        PreviousWidth = previousWidth;
        CurrentWidth = currentWidth;
        Heads = heads;
        HeadWidth = Math.Max(1, (previousWidth + currentWidth) / 2);
        sender = Linear(currentWidth, heads * HeadWidth);
        senderNorm = new CenteredNorm(heads * HeadWidth);
        receiver = Linear(previousWidth, heads * HeadWidth);
        receiverNorm = new CenteredNorm(heads * HeadWidth);
        estimatorIn = Linear(previousWidth, HeadWidth);
        estimatorNorm = new CenteredNorm(HeadWidth);
        estimatorOut = Linear(heads * HeadWidth, currentWidth);
        using (no_grad())
        {
            foreach (TorchSharp.Modules.Linear layer in new[] { sender, receiver, estimatorIn, estimatorOut })
            {
                init.normal_(layer.weight!);
                layer.bias!.zero_();
            }
        }
        RegisterComponents();
    }

    /// <summary>D_prev.</summary>
    public long PreviousWidth { get; }

    /// <summary>D_cur.</summary>
    public long CurrentWidth { get; }

    /// <summary>H.</summary>
    public int Heads { get; }

    /// <summary>The width of each head's embedding, (D_prev + D_cur) / 2.</summary>
    public long HeadWidth { get; }

    /// <summary>The attention head's layers, for tests and references: (sender, its norm, receiver, its norm).</summary>
    public (TorchSharp.Modules.Linear Sender, CenteredNorm SenderNorm, TorchSharp.Modules.Linear Receiver, CenteredNorm ReceiverNorm) Head =>
        (sender, senderNorm, receiver, receiverNorm);

    /// <summary>The attention graphs G [H, B, B]: G[h, i, j] = sender_h(current_i) . receiver_h(previous_j).</summary>
    /// <param name="current">The current layer's vectors [B, D_cur].</param>
    /// <param name="previous">The previous layer's vectors [B, D_prev].</param>
    /// <param name="batchStatistics">Normalise with this batch's statistics (fitting) rather than the running ones.</param>
    /// <returns>The graphs, before any softmax.</returns>
    public Tensor Graph(Tensor current, Tensor previous, bool batchStatistics)
    {
        ArgumentNullException.ThrowIfNull(current);
        ArgumentNullException.ThrowIfNull(previous);
        using var scope = NewDisposeScope();
        Tensor s = Blocks(senderNorm.Forward(functional.relu(sender.call(current)), batchStatistics));
        Tensor r = Blocks(receiverNorm.Forward(functional.relu(receiver.call(previous)), batchStatistics));
        return s.bmm(r.transpose(1, 2)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The estimator: the current layer's vectors predicted from the previous layer's through the graphs, unit rows
    /// [B, D_cur]. Uses batch statistics and random head dropping (it only runs while fitting).
    /// </summary>
    /// <param name="previous">The previous layer's vectors [B, D_prev].</param>
    /// <param name="graph">The graphs from <see cref="Graph"/> [H, B, B].</param>
    /// <returns>The estimate.</returns>
    public Tensor Estimate(Tensor previous, Tensor graph)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(graph);
        using var scope = NewDisposeScope();
        long batch = previous.shape[0];
        Tensor attention = functional.softmax(graph, -1);
        // Head dropping: a head is kept for example i where its noise beats the mean of the heads' noise.
        Tensor noise = randn([Heads, batch, 1], dtype: graph.dtype, device: graph.device);
        Tensor keep = noise.gt(noise.mean([0], keepdim: true)).to_type(graph.dtype);
        Tensor kept = attention.mul(keep);
        using Scalar two = 2.0.ToScalar();
        kept = kept.mul(two).add(kept.detach(), MinusOne);   // the value of kept, twice its gradient (as the code)
        Tensor x = functional.relu(estimatorNorm.Forward(functional.relu(estimatorIn.call(previous)), batchStatistics: true));
        Tensor mixed = kept.matmul(x.unsqueeze(0));             // [H, B, D]
        Tensor joined = mixed.permute(1, 0, 2).reshape(batch, Heads * HeadWidth);
        Tensor estimate = functional.relu(estimatorOut.call(joined));
        return functional.normalize(estimate, p: 2, dim: 1, eps: 1e-12).MoveToOuterDisposeScope();
    }

    /// <summary>The fitting loss of one batch of teacher vectors: mean over examples of 1 - cos(estimate, current).</summary>
    /// <param name="current">The current layer's unit vectors [B, D_cur].</param>
    /// <param name="previous">The previous layer's unit vectors [B, D_prev].</param>
    /// <returns>A scalar with gradients for this network's parameters.</returns>
    public Tensor FitLoss(Tensor current, Tensor previous)
    {
        using var scope = NewDisposeScope();
        Tensor estimate = Estimate(previous, Graph(current, previous, batchStatistics: true));
        Tensor cosine = estimate.mul(current).sum(1);
        return cosine.neg().add(Scalars.One, Scalars.One).mean().MoveToOuterDisposeScope();
    }

    /// <summary>[B, H * W] rows to head blocks [H, B, W].</summary>
    private Tensor Blocks(Tensor rows) => rows.reshape(rows.shape[0], Heads, HeadWidth).permute(1, 0, 2);
}
