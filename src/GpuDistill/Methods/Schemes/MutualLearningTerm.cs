using GpuDistill.Interop;
using TorchSharp;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// Deep mutual learning (Zhang et al. 2018; loss-spec 1.5): 1/(K-1) sum over the other peers l of KL(p_l || p_k) at
/// temperature 1 (batch mean), each peer's output detached, through the fused KL kernel. It reads the other
/// learners' logits (<see cref="TermInputs.PeerLogits"/>), so it only makes sense in a run that trains peers
/// together (<c>--scheme dml</c>); the scheme adds <c>ce</c> with weight 1 and this term with lambda = 1.
/// </summary>
public sealed class MutualLearningTerm : ILossTerm
{
    /// <summary>The registry's description (the dml scheme trains with it; it shares that scheme's settings).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<MutualLearningSettings>("dml",
        "Deep mutual learning: KL to each other peer's outputs, peers trained together (Zhang et al. 2018; the dml scheme).",
        _ => new MutualLearningTerm());

    /// <inheritdoc/>
    public string Name => "dml";

    /// <inheritdoc/>
    public bool NeedsTeacher => false;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.PeerLogits.Count == 0)
            throw new InvalidOperationException("Loss term 'dml' learns from peers trained alongside, but this run trains one model (use the dml scheme).");
        Tensor? total = null;
        foreach (Tensor peer in inputs.PeerLogits)
        {
            Tensor kl = Losses.SoftmaxKL(inputs.StudentLogits, peer, 1.0);
            total = total is null ? kl : total.add(kl, Scalars.One);
        }
        using Scalar peers = ((double)inputs.PeerLogits.Count).ToScalar();
        return total!.div(peers);
    }
}
