using System.Globalization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>One named term of a loss and its weight.</summary>
/// <param name="Name">The term's name.</param>
/// <param name="Weight">Its weight, finite and &gt;= 0.</param>
public sealed record WeightedTerm(string Name, double Weight);

/// <summary>
/// A loss as weighted named terms, parsed and checked once (<c>kd:0.9,ce:0.1</c>; a bare name has weight 1): the
/// typed form recipes and the command line hand to the trainer, which creates the terms from it
/// (<see cref="Create"/>).
/// </summary>
public sealed record LossSpec
{
    private LossSpec(IReadOnlyList<WeightedTerm> terms) => Terms = terms;

    /// <summary>The terms in order.</summary>
    public IReadOnlyList<WeightedTerm> Terms { get; }

    /// <summary>Parses and checks <c>name:weight,name:weight</c> against <paramref name="registry"/>.</summary>
    /// <param name="spec">The spec.</param>
    /// <param name="registry">The known terms; <see cref="MethodRegistry.Default"/> when null.</param>
    /// <returns>The spec.</returns>
    /// <exception cref="ArgumentException">For an unknown term (the message lists the known ones), a weight that is
    /// not a number, or a term named twice.</exception>
    /// <exception cref="ArgumentOutOfRangeException">For a weight that is negative or not finite.</exception>
    public static LossSpec Parse(string spec, MethodRegistry? registry = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(spec);
        registry ??= MethodRegistry.Default;
        var terms = new List<WeightedTerm>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] pieces = part.Split(':', 2, StringSplitOptions.TrimEntries);
            double weight = 1;
            if (pieces.Length == 2 && !double.TryParse(pieces[1], NumberStyles.Float, CultureInfo.InvariantCulture, out weight))
                throw new ArgumentException($"Loss spec '{spec}': weight '{pieces[1]}' of '{pieces[0]}' is not a number.", nameof(spec));
            registry.Term(pieces[0]);
            if (!double.IsFinite(weight) || weight < 0)
                throw new ArgumentOutOfRangeException(nameof(spec), weight, $"Weight of '{pieces[0]}' must be finite and >= 0.");
            if (terms.Any(t => t.Name == pieces[0]))
                throw new ArgumentException($"Loss term '{pieces[0]}' appears twice in '{spec}'.", nameof(spec));
            terms.Add(new WeightedTerm(pieces[0], weight));
        }
        if (terms.Count == 0) throw new ArgumentException($"Loss spec '{spec}' names no term.", nameof(spec));
        return new LossSpec(terms);
    }

    /// <summary>The loss of the built-in method <paramref name="method"/> (e.g. kd = kd:0.9,ce:0.1).</summary>
    /// <exception cref="ArgumentException">For an unknown method; the message lists the known ones.</exception>
    public static LossSpec ForMethod(string method, MethodRegistry? registry = null)
    {
        registry ??= MethodRegistry.Default;
        return Parse(registry.Method(method).Loss, registry);
    }

    /// <summary>Creates the terms with their settings from <paramref name="settings"/>.</summary>
    /// <param name="settings">Every method's settings; <see cref="MethodSettingsMap.Defaults"/> when null.</param>
    /// <returns>The weighted loss, with new term instances (terms hold per-run state such as adapters).</returns>
    public WeightedLoss Create(MethodSettingsMap? settings = null)
    {
        settings ??= MethodSettingsMap.Defaults;
        return new WeightedLoss([.. Terms.Select(t => (settings.Registry.Term(t.Name).Create(settings[t.Name]), t.Weight))]);
    }

    /// <summary>The spec, e.g. <c>kd:0.9,ce:0.1</c>.</summary>
    public override string ToString() =>
        string.Join(',', Terms.Select(t => t.Name + ":" + t.Weight.ToString("G", CultureInfo.InvariantCulture)));
}
