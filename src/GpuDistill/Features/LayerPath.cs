namespace GpuDistill.Features;

/// <summary>
/// A layer to capture, written as a module path (the names TorchSharp gives submodules, e.g. <c>stage2</c> or
/// <c>features.2</c>), optionally followed by <c>:in</c> to take the module's input instead of its output
/// (e.g. <c>head:in</c>, the embedding a classifier head reads).
/// </summary>
/// <param name="Module">The dotted module path.</param>
/// <param name="Input">Whether the module's input is captured rather than its output.</param>
public readonly record struct LayerPath(string Module, bool Input)
{
    private const string InputSuffix = ":in";

    /// <summary>Parses <c>path</c> or <c>path:in</c>.</summary>
    /// <param name="text">The layer as written by the user.</param>
    /// <returns>The parsed path.</returns>
    public static LayerPath Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        string trimmed = text.Trim();
        bool input = trimmed.EndsWith(InputSuffix, StringComparison.Ordinal);
        string module = input ? trimmed[..^InputSuffix.Length] : trimmed;
        if (module.Length == 0 || module.Contains(':', StringComparison.Ordinal))
            throw new ArgumentException($"Layer '{text}' is not a module path such as 'stage2' or 'head:in'.", nameof(text));
        return new LayerPath(module, input);
    }

    /// <inheritdoc/>
    public override string ToString() => Input ? Module + InputSuffix : Module;
}
