using System.Globalization;

namespace GpuDistill.Methods;

/// <summary>
/// One candidate of a method's tuning grid: its weighted terms and the settings it changes (as on the command line,
/// <c>"kd.temperature" = "2"</c>).
/// </summary>
/// <param name="Loss">The weighted terms, e.g. <c>kd:0.9,ce:0.1</c>.</param>
/// <param name="Set">Settings it changes, by <c>name.key</c>.</param>
public sealed record GridPoint(string Loss, IReadOnlyDictionary<string, string> Set)
{
    /// <summary>The point in one line, e.g. <c>kd:0.9,ce:0.1 kd.temperature=2</c>.</summary>
    public override string ToString() =>
        Loss + string.Concat(Set.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $" {s.Key}={s.Value}"));

    /// <summary>
    /// The point as a file or directory name, e.g. <c>kd0.9-ce0.1-kd.temperature=2</c>: the name of its tuning run, so
    /// that a grid that grows or is reordered finds each finished point under its own name.
    /// </summary>
    public string FileName => new([.. ToString().Replace(":", "", StringComparison.Ordinal)
        .Select(c => c is ',' or ' ' ? '-' : char.IsAsciiLetterOrDigit(c) || c is '.' or '=' or '-' ? c : '_')]);

    /// <summary>
    /// <paramref name="settings"/> with this point's changes, checked; the message of a bad one names it.
    /// </summary>
    /// <exception cref="ArgumentException">For an unknown name or key, or a bad value.</exception>
    public MethodSettingsMap Apply(MethodSettingsMap settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        foreach ((string path, string value) in Set)
        {
            int dot = path.IndexOf('.', StringComparison.Ordinal);
            if (dot <= 0) throw new ArgumentException($"'{path}' is not NAME.KEY (e.g. kd.temperature).", nameof(settings));
            settings = settings.Set(path[..dot], path[(dot + 1)..], value);
        }
        settings.Validate();
        return settings;
    }
}

/// <summary>Builds the small grids the built-in methods are tuned on (on the validation split; see the README).</summary>
public static class TuningGrid
{
    /// <summary>The points of the given losses, changing no setting.</summary>
    public static IReadOnlyList<GridPoint> Of(params string[] losses) =>
        [.. losses.Select(l => new GridPoint(l, new Dictionary<string, string>()))];

    /// <summary>
    /// The distillation terms of <paramref name="loss"/> (every term but <c>ce</c>) scaled by each factor: around a
    /// reference code's weight, e.g. <c>Scaled("at:1000,ce:1", 0.1, 0.3, 1)</c>.
    /// </summary>
    /// <remarks>The spec is split here, not parsed against the registry: the terms' files build their grids while the
    /// registry itself is being built. Grid points are checked where they are used (recipes, tuning).</remarks>
    public static IReadOnlyList<GridPoint> Scaled(string loss, params double[] factors)
    {
        ArgumentNullException.ThrowIfNull(loss);
        (string Name, double Weight)[] terms = [.. loss.Split(',').Select(part => part.Split(':')).Select(p =>
            (p[0].Trim(), p.Length > 1 ? double.Parse(p[1], CultureInfo.InvariantCulture) : 1.0))];
        return [.. factors.Select(f => new GridPoint(
            string.Join(',', terms.Select(t => $"{t.Name}:{(t.Name == "ce" ? t.Weight : t.Weight * f).ToString("G6", CultureInfo.InvariantCulture)}")),
            new Dictionary<string, string>()))];
    }

    /// <summary>Every point of <paramref name="points"/> with each value of the setting <paramref name="path"/>.</summary>
    public static IReadOnlyList<GridPoint> Cross(this IReadOnlyList<GridPoint> points, string path, params string[] values)
    {
        ArgumentNullException.ThrowIfNull(points);
        return [.. points.SelectMany(p => values.Select(v => p with { Set = new Dictionary<string, string>(p.Set) { [path] = v } }))];
    }
}
