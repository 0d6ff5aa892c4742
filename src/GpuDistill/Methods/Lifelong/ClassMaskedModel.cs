using System.Globalization;
using GpuDistill.Models;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// A model whose logits of inactive classes are pushed far below the others, so an argmax (the trainer's accuracy)
/// only picks among the active ones: the classes seen so far in a sequence of tasks. The loss terms of the lifelong
/// scheme pick their own columns and never read the masked ones. Wraps a network and shares its parameters (its
/// state-dict keys carry a <c>"net."</c> prefix).
/// </summary>
public sealed class ClassMaskedModel : DistillModel
{
    // Far below any logit, yet finite (the trainer stops a run whose logits are not).
    private const float Masked = -1e9f;
    private readonly DistillModel net;
    private readonly float[] mask;

    /// <summary>Wraps <paramref name="network"/> with every class active.</summary>
    /// <param name="network">The network (owned by the caller; disposing this model disposes it too).</param>
    /// <param name="classCount">Its number of outputs.</param>
    public ClassMaskedModel(DistillModel network, int classCount)
        : base((network ?? throw new ArgumentNullException(nameof(network))).Architecture)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(classCount, 1);
        net = network;
        mask = new float[classCount];
        RegisterComponents();
    }

    /// <summary>The wrapped network.</summary>
    public DistillModel Network => net;

    /// <summary>Makes exactly <paramref name="classes"/> active.</summary>
    /// <param name="classes">The active classes.</param>
    public void Activate(IEnumerable<int> classes)
    {
        ArgumentNullException.ThrowIfNull(classes);
        Array.Fill(mask, Masked);
        foreach (int c in classes) mask[c] = 0;
    }

    /// <inheritdoc/>
    public override string Description => string.Create(CultureInfo.InvariantCulture,
        $"{net.Description}; classes {string.Join(',', Enumerable.Range(0, mask.Length).Where(c => mask[c] == 0))} active");

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureNames => net.FeatureNames;

    /// <inheritdoc/>
    public override IReadOnlyList<string> FeatureLayers => [.. net.FeatureLayers.Select(l => "net." + l)];

    /// <inheritdoc/>
    public override string EmbeddingLayer => "net." + net.EmbeddingLayer;

    /// <inheritdoc/>
    public override long EmbeddingSize => net.EmbeddingSize;

    /// <inheritdoc/>
    public override ModelOutput forward(Tensor input)
    {
        ModelOutput inner = net.call(input);
        using Tensor offsets = tensor(mask, [1, mask.Length]);
        Tensor logits = inner.Logits.add(offsets);
        inner.Logits.Dispose();
        return new ModelOutput(logits, inner.Pooled, inner.Features);
    }
}
