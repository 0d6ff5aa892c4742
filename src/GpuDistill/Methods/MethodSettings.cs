namespace GpuDistill.Methods;

/// <summary>
/// A method's typed settings (one record per method, defaults as the reference code has them). In a recipe they sit
/// under the method's name in <c>settings</c>; on the command line <c>--set name.key=value</c> changes one.
/// </summary>
public abstract record MethodSettings
{
    /// <summary>Checks every value; the exception names the key (camel case, as in a recipe).</summary>
    /// <exception cref="ArgumentException">For a value out of range.</exception>
    public virtual void Validate()
    {
    }

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming <paramref name="key"/> unless it holds.</summary>
    /// <param name="holds">The condition.</param>
    /// <param name="key">The key, camel case.</param>
    /// <param name="value">Its value.</param>
    /// <param name="expected">What it must be, e.g. "&gt; 0".</param>
    protected static void Require(bool holds, string key, object? value, string expected)
    {
        if (!holds) throw new ArgumentOutOfRangeException(key, value, $"{key} must be {expected}.");
    }
}

/// <summary>The settings of a method that has none.</summary>
public sealed record NoSettings : MethodSettings;

/// <summary>The settings of a softened response term: the temperature.</summary>
public record TemperatureSettings : MethodSettings
{
    /// <summary>Softmax temperature T (RepDistiller's and mdistiller's 4).</summary>
    public double Temperature { get; init; } = 4.0;

    /// <inheritdoc/>
    public override void Validate() =>
        Require(double.IsFinite(Temperature) && Temperature > 0, "temperature", Temperature, "finite and > 0");
}

/// <summary>
/// The settings of a term that reads intermediate layers: which ones (module paths; <c>"path:in"</c> takes a module's
/// input), student layer i paired with teacher layer i; null for the term's own default layers.
/// </summary>
public record LayerSettings : MethodSettings
{
    /// <summary>Student layers; null for the term's default.</summary>
    public IReadOnlyList<string>? StudentLayers { get; init; }

    /// <summary>Teacher layers, paired with <see cref="StudentLayers"/> by position; null for the term's default.</summary>
    public IReadOnlyList<string>? TeacherLayers { get; init; }
}
