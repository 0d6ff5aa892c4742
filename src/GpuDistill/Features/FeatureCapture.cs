using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuDistill.Features;

/// <summary>
/// Captures the outputs (or inputs) of chosen submodules of any TorchSharp module during its forward pass, through
/// forward hooks, with no change to the model: pick layers by module path (<see cref="LayerPath"/>).
/// </summary>
/// <remarks>
/// Each capture is an alias of the module's tensor (same storage, same autograd history), owned by this object
/// until the next forward pass overwrites it or <see cref="Clear"/> frees it: call <see cref="Clear"/> after every
/// step so no native memory is kept between steps. Gradients flow through captures taken in training mode; the
/// teacher is run under <c>no_grad</c>, so its captures have none. A module that runs twice in one pass keeps its
/// last result. An in-place operation after the captured module (e.g. <c>ReLU(inplace)</c> after a batch norm)
/// changes the capture too; capture the in-place module or the block that ends with it instead.
/// </remarks>
public sealed class FeatureCapture : IDisposable
{
    private readonly Dictionary<string, Tensor?> captured = new(StringComparer.Ordinal);
    private readonly List<HookableModule<Func<Module<Tensor, Tensor>, Tensor, Tensor>, Func<Module<Tensor, Tensor>, Tensor, Tensor, Tensor>>.HookRemover> hooks = [];

    /// <summary>Registers a forward hook on each layer's module.</summary>
    /// <param name="root">The model whose submodules are captured.</param>
    /// <param name="layers">Module paths, each optionally ending in <c>:in</c>.</param>
    /// <exception cref="ArgumentException">A path names no submodule (the message lists the valid paths near it),
    /// or names one that does not map one tensor to one tensor.</exception>
    public FeatureCapture(Module root, IEnumerable<string> layers)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(layers);
        Dictionary<string, Module> modules = root.named_modules()
            .Where(m => m.name.Length > 0)
            .ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        foreach (string layer in layers.Distinct(StringComparer.Ordinal))
        {
            LayerPath path = LayerPath.Parse(layer);
            string key = path.ToString();
            if (captured.ContainsKey(key)) continue;
            if (!modules.TryGetValue(path.Module, out Module? module))
                throw new ArgumentException(
                    $"Layer '{path.Module}' is not a submodule of {root.GetName()}; paths near it: {string.Join(", ", Near(path.Module, modules.Keys))}.",
                    nameof(layers));
            if (module is not Module<Tensor, Tensor> hookable)
                throw new ArgumentException(
                    $"Layer '{path.Module}' ({module.GetType().Name}) does not map one tensor to one tensor; capture one of its submodules instead.",
                    nameof(layers));
            captured[key] = null;
            bool input = path.Input;
            hooks.Add(hookable.register_forward_hook((_, x, y) =>
            {
                Store(key, input ? x : y);
                return null!;
            }));
        }
    }

    /// <summary>The captured layers, as given (duplicates removed).</summary>
    public IReadOnlyCollection<string> Layers => captured.Keys;

    /// <summary>The tensor captured for <paramref name="layer"/> in the last forward pass.</summary>
    /// <param name="layer">A layer given to the constructor.</param>
    /// <returns>The capture (owned by this object; valid until the next pass or <see cref="Clear"/>).</returns>
    public Tensor this[string layer]
    {
        get
        {
            string key = LayerPath.Parse(layer).ToString();
            if (!captured.TryGetValue(key, out Tensor? value))
                throw new KeyNotFoundException($"Layer '{layer}' is not captured; captured: {string.Join(", ", captured.Keys)}.");
            if (value is null || value.IsInvalid)
                throw new InvalidOperationException($"Layer '{layer}' produced nothing since the last Clear(): run a forward pass first.");
            return value;
        }
    }

    /// <summary>
    /// The shape of every captured layer when <paramref name="model"/> (the module this captures from) runs on
    /// <paramref name="images"/>: one forward pass in eval mode without autograd; the model's mode is restored and the
    /// captures are freed.
    /// </summary>
    /// <param name="model">The captured model.</param>
    /// <param name="images">A probe batch, e.g. one image.</param>
    /// <returns>Layer to shape, batch dimension included.</returns>
    public Dictionary<string, long[]> Shapes(Models.DistillModel model, Tensor images)
    {
        ArgumentNullException.ThrowIfNull(model);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var scope = NewDisposeScope();
            model.ForwardLogits(images);
            return Layers.ToDictionary(l => l, l => this[l].shape, StringComparer.Ordinal);
        }
        finally
        {
            Clear();
            model.train(wasTraining);
        }
    }

    /// <summary>Frees every capture (call once per step).</summary>
    public void Clear()
    {
        foreach (string key in captured.Keys.ToArray())
        {
            captured[key]?.Dispose();
            captured[key] = null;
        }
    }

    /// <summary>Removes the hooks and frees the captures.</summary>
    public void Dispose()
    {
        foreach (var hook in hooks) hook.remove();
        hooks.Clear();
        Clear();
    }

    private void Store(string key, Tensor value)
    {
        captured[key]?.Dispose();
        // An alias of our own: the module's tensor belongs to the forward pass, this one to us.
        Tensor alias = value.alias();
        alias.DetachFromDisposeScope();
        captured[key] = alias;
    }

    /// <summary>The valid paths most like <paramref name="wanted"/>: same parent first, then by edit distance.</summary>
    private static IEnumerable<string> Near(string wanted, IEnumerable<string> valid)
    {
        string parent = wanted.Contains('.', StringComparison.Ordinal) ? wanted[..wanted.LastIndexOf('.')] : "";
        return valid
            .OrderByDescending(v => parent.Length > 0 && v.StartsWith(parent, StringComparison.Ordinal))
            .ThenBy(v => EditDistance(v, wanted))
            .ThenBy(v => v, StringComparer.Ordinal)
            .Take(8);
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1], previous[j]) + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
