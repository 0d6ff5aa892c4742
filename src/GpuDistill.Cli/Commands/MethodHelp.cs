using System.Text.Json;
using GpuDistill.Methods;
using GpuDistill.Models;

namespace GpuDistill.Cli.Commands;

/// <summary>The help texts about methods, schemes, settings and models, written from the registry.</summary>
internal static class MethodHelp
{
    /// <summary>A command's description: its summary, then every built-in method with its terms, every scheme and the
    /// architectures, kept within 80 columns.</summary>
    /// <param name="summary">The command's own one-line description.</param>
    /// <returns>The text.</returns>
    public static string Describe(string summary)
    {
        MethodRegistry registry = MethodRegistry.Default;
        var lines = new List<string> { summary, "", "Methods (--method, --methods), each weighted terms (--loss writes your own):" };
        lines.AddRange(registry.Methods.Select(m => $"  {m.Name,-12} {m.Loss}"));
        lines.Add("Schemes (--scheme, --schemes): " + string.Join(", ", registry.Schemes.Select(s => s.Name)) + ".");
        lines.Add("Architectures: " + string.Join(", ", ModelFactory.Names) + ".");
        lines.Add("'gpudistill methods' describes every term and scheme with its settings and defaults.");
        return string.Join(Environment.NewLine, lines);
    }

    /// <summary>Every term and scheme: its help line and its settings with their defaults, as a recipe writes them.</summary>
    /// <returns>The lines.</returns>
    public static IEnumerable<string> Catalogue()
    {
        MethodRegistry registry = MethodRegistry.Default;
        yield return "Loss terms (use in --loss as name:weight; a method is a set of them):";
        foreach (TermInfo term in registry.Terms)
        {
            string methods = term.Methods.Count == 0 ? "" : "  [method " + string.Join("; ", term.Methods.Select(m => $"{m.Name} = {m.Loss}")) + "]";
            yield return $"  {term.Name}{methods}";
            yield return $"      {term.Help}";
            yield return $"      settings: {Settings(term.DefaultSettings)}";
            foreach (BuiltInMethod method in term.Methods.Where(m => m.Grid.Count > 0))
                yield return $"      --tune grid of {method.Name}: {string.Join(" | ", method.Grid)}";
        }
        yield return "";
        yield return "Schemes (--scheme):";
        foreach (SchemeInfo scheme in registry.Schemes)
        {
            yield return $"  {scheme.Name}";
            yield return $"      {scheme.Help}";
            yield return $"      settings: {Settings(scheme.DefaultSettings)}";
        }
        yield return "";
        yield return "Change a setting with --set NAME.KEY=VALUE (e.g. --set dkd.beta=2), or under \"settings\" in a recipe.";
    }

    private static readonly JsonSerializerOptions OneLine = new(SettingsJson.Options) { WriteIndented = false };

    private static string Settings(MethodSettings settings)
    {
        string json = JsonSerializer.Serialize(settings, settings.GetType(), OneLine);
        return json == "{}" ? "none" : json;
    }
}
