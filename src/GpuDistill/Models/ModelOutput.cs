using System.Diagnostics.CodeAnalysis;
using GpuDistill.Validation;
using static TorchSharp.torch;

namespace GpuDistill.Models;

/// <summary>
/// What one forward pass of a <see cref="DistillModel"/> returns: the logits, the named intermediate features in
/// network order, and the pooled penultimate embedding. Logit-based methods read <see cref="Logits"/>; feature- and
/// relation-based methods pick stages by name (<see cref="Feature"/>) or use <see cref="Pooled"/>.
/// </summary>
/// <remarks>
/// Ownership: every tensor here is new and belongs to the caller. Inside a <c>torch.NewDisposeScope()</c> they are
/// registered with that scope like any other tensor and are freed with it (use <see cref="MoveToOuterDisposeScope"/>
/// to keep them longer); outside a scope, call <see cref="Dispose"/>, which frees each distinct tensor once.
/// The same tensor may appear twice (a model's last feature can be its pooled embedding).
/// In training mode the tensors carry autograd history back to the model's parameters.
/// </remarks>
public sealed class ModelOutput : IDisposable
{
    /// <summary>Wraps the tensors of one forward pass; the new object owns them.</summary>
    /// <param name="logits">Class scores [B, classes].</param>
    /// <param name="pooled">Penultimate embedding [B, D].</param>
    /// <param name="features">Intermediate features in network order, with unique non-empty names.</param>
    public ModelOutput(Tensor logits, Tensor pooled, IReadOnlyList<NamedFeature> features)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(pooled);
        ArgumentNullException.ThrowIfNull(features);
        if (logits.dim() != 2)
            throw new ArgumentException($"logits must be [B, classes]; got {TensorChecks.Shape(logits)}.", nameof(logits));
        if (pooled.dim() != 2 || pooled.shape[0] != logits.shape[0])
            throw new ArgumentException($"pooled must be [B, D] with the B of logits ({logits.shape[0]}); got {TensorChecks.Shape(pooled)}.", nameof(pooled));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (NamedFeature f in features)
        {
            if (string.IsNullOrEmpty(f.Name))
                throw new ArgumentException("Every feature needs a non-empty name.", nameof(features));
            if (f.Value is null)
                throw new ArgumentException($"Feature '{f.Name}' has no tensor.", nameof(features));
            if (!seen.Add(f.Name))
                throw new ArgumentException($"Feature name '{f.Name}' appears twice.", nameof(features));
        }
        Logits = logits;
        Pooled = pooled;
        Features = features.ToArray();
    }

    /// <summary>Class scores [B, classes] (before softmax).</summary>
    public Tensor Logits { get; }

    /// <summary>The penultimate embedding [B, D] that the classifier head reads.</summary>
    public Tensor Pooled { get; }

    /// <summary>Intermediate features in network order (earliest first).</summary>
    public IReadOnlyList<NamedFeature> Features { get; }

    /// <summary>The names of <see cref="Features"/>, in order.</summary>
    public IEnumerable<string> FeatureNames => Features.Select(f => f.Name);

    /// <summary>The feature called <paramref name="name"/> (ordinal, case-sensitive).</summary>
    /// <param name="name">A stage name such as <c>"stage1"</c>.</param>
    /// <returns>The feature tensor (owned by this output).</returns>
    /// <exception cref="KeyNotFoundException">No feature has that name; the message lists the names there are.</exception>
    public Tensor Feature(string name)
    {
        if (TryGetFeature(name, out Tensor? value)) return value;
        throw new KeyNotFoundException($"No feature '{name}'; this model produces: {string.Join(", ", FeatureNames)}.");
    }

    /// <summary>Looks a feature up by name.</summary>
    /// <param name="name">A stage name such as <c>"stage1"</c>.</param>
    /// <param name="value">The feature tensor when found.</param>
    /// <returns>Whether a feature has that name.</returns>
    public bool TryGetFeature(string name, [MaybeNullWhen(false)] out Tensor value)
    {
        foreach (NamedFeature f in Features)
        {
            if (string.Equals(f.Name, name, StringComparison.Ordinal))
            {
                value = f.Value;
                return true;
            }
        }
        value = null;
        return false;
    }

    /// <summary>Moves every tensor to the dispose scope outside the current one, so they outlive it.</summary>
    /// <returns>This output.</returns>
    public ModelOutput MoveToOuterDisposeScope()
    {
        foreach (Tensor t in DistinctTensors()) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Frees every tensor of this output (each distinct tensor once).</summary>
    public void Dispose()
    {
        foreach (Tensor t in DistinctTensors()) t.Dispose();
    }

    /// <summary>Frees everything but the logits and hands those over to the caller.</summary>
    internal Tensor TakeLogits()
    {
        foreach (Tensor t in DistinctTensors())
        {
            if (!ReferenceEquals(t, Logits)) t.Dispose();
        }
        return Logits;
    }

    private List<Tensor> DistinctTensors()
    {
        var all = new List<Tensor>(Features.Count + 2) { Logits };
        if (!all.Contains(Pooled, ReferenceEqualityComparer.Instance)) all.Add(Pooled);
        foreach (NamedFeature f in Features)
        {
            if (!all.Contains(f.Value, ReferenceEqualityComparer.Instance)) all.Add(f.Value);
        }
        return all;
    }
}
