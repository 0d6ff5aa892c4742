using System.Text.Json;
using System.Text.Json.Serialization;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>Reads and writes recipes; every error names the file, the key and the line.</summary>
public static class RecipeLoader
{
    /// <summary>Strict settings: an unknown key or a wrong type is an error, never ignored.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Loads and checks a recipe file.</summary>
    /// <param name="path">The JSON file.</param>
    /// <returns>The recipe.</returns>
    /// <exception cref="RecipeException">For a missing file, bad JSON, an unknown key, a wrong type or a bad value.</exception>
    public static Recipe Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new RecipeException($"{path}: recipe file not found.");
        Recipe? recipe;
        try
        {
            recipe = JsonSerializer.Deserialize<Recipe>(File.ReadAllText(path), Options);
        }
        catch (JsonException e)
        {
            throw new RecipeException($"{path}: {Describe(e)}", e);
        }
        if (recipe is null) throw new RecipeException($"{path}: the recipe is empty (null).");
        Validate(recipe, path);
        return recipe;
    }

    /// <summary>Writes <paramref name="recipe"/> as JSON (every field, defaults included, so it re-runs as is).</summary>
    public static string ToJson(Recipe recipe) => JsonSerializer.Serialize(recipe, Options);

    /// <summary>Checks the values a JSON schema cannot: names, ranges, files.</summary>
    /// <param name="recipe">The recipe.</param>
    /// <param name="source">Where it came from, for messages.</param>
    public static void Validate(Recipe recipe, string source)
    {
        ArgumentNullException.ThrowIfNull(recipe);
        void Fail(string key, string message) => throw new RecipeException($"{source}: {key}: {message}");

        if (recipe.Data.Directory is { } dir && !Directory.Exists(dir))
            Fail("data.directory", $"directory '{dir}' does not exist.");
        if (!ModelFactory.Names.Contains(recipe.Teacher.Model, StringComparer.OrdinalIgnoreCase))
            Fail("teacher.model", $"unknown model '{recipe.Teacher.Model}'; known: {string.Join(", ", ModelFactory.Names)}.");
        if (recipe.Students.Count == 0) Fail("students", "list at least one student.");
        foreach (string s in recipe.Students)
        {
            if (!ModelFactory.Names.Contains(s, StringComparer.OrdinalIgnoreCase))
                Fail("students", $"unknown model '{s}'; known: {string.Join(", ", ModelFactory.Names)}.");
        }
        if (recipe.Methods.Count == 0 && recipe.Schemes.Count == 0) Fail("methods", "list at least one method or scheme.");
        foreach (string scheme in recipe.Schemes)
        {
            if (!Schemes.SchemeCatalog.Names.Contains(scheme, StringComparer.Ordinal))
                Fail("schemes", $"unknown scheme '{scheme}'; known: {string.Join(", ", Schemes.SchemeCatalog.Names)}.");
        }
        if (recipe.SchemeSettings.Peers < 2) Fail("schemeSettings.peers", "must be 2 or more.");
        if (recipe.SchemeSettings.Generations < 1) Fail("schemeSettings.generations", "must be 1 or more.");
        foreach (string model in recipe.SchemeSettings.ExtraTeachers.Append(recipe.SchemeSettings.Assistant))
        {
            if (!ModelFactory.Names.Contains(model, StringComparer.OrdinalIgnoreCase))
                Fail("schemeSettings", $"unknown model '{model}'; known: {string.Join(", ", ModelFactory.Names)}.");
        }
        if (recipe.SchemeSettings.TeacherWeighting is not ("confidence" or "equal"))
            Fail("schemeSettings.teacherWeighting", "must be confidence or equal.");
        foreach (MethodSection m in recipe.Methods)
        {
            if (string.IsNullOrWhiteSpace(m.Name)) Fail("methods", "every method needs a name.");
            try
            {
                LossCatalog.Parse(m.Loss, recipe.Loss);
            }
            catch (ArgumentException e)
            {
                Fail($"methods[{m.Name}].loss", e.Message);
            }
        }
        if (recipe.Methods.Select(m => m.Name).Distinct().Count() != recipe.Methods.Count) Fail("methods", "method names must be unique.");
        if (recipe.Seeds.Count == 0) Fail("seeds", "list at least one seed.");
        if (!double.IsFinite(recipe.Loss.Temperature) || recipe.Loss.Temperature <= 0) Fail("loss.temperature", "must be > 0.");
        if (recipe.Loss.JsdBeta is < 0 or > 1) Fail("loss.jsdBeta", "must be in [0, 1].");
        CheckSchedule(recipe.Training, "training", Fail);
        CheckSchedule(recipe.Teacher.Training, "teacher.training", Fail);
        if (recipe.Accelerator.Split(':')[0].ToUpperInvariant() is not ("AUTO" or "CPU" or "SIMD" or "CUDA" or "OPENCL"))
            Fail("accelerator", $"'{recipe.Accelerator}' is not cpu, simd, cuda, opencl or auto.");
    }

    private static void CheckSchedule(ScheduleSection schedule, string key, Action<string, string> fail)
    {
        try
        {
            schedule.ToOptions(1, false).Validate();
        }
        catch (ArgumentOutOfRangeException e)
        {
            fail($"{key}.{char.ToLowerInvariant(e.ParamName![0])}{e.ParamName[1..]}", e.Message.Split(" (Parameter")[0]);
        }
    }

    private static string Describe(JsonException e)
    {
        string where = e.LineNumber is long line ? $"line {line + 1}" : "unknown line";
        string key = string.IsNullOrEmpty(e.Path) ? "$" : e.Path;
        string message = e.Message;
        if (message.Contains("could not be mapped", StringComparison.Ordinal))
        {
            int start = message.IndexOf('\'', StringComparison.Ordinal) + 1;
            string unknown = message[start..message.IndexOf('\'', start)];
            return $"{where}: unknown key '{unknown}' at {key}.";
        }
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return $"{where}: {key}: {(cut > 0 ? message[..cut] : message)}";
    }
}

/// <summary>A recipe that cannot be run; the message names the file, the key and, where known, the line.</summary>
public sealed class RecipeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RecipeException() { }

    /// <summary>Creates the exception.</summary>
    public RecipeException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public RecipeException(string message, Exception inner) : base(message, inner) { }
}
