using System.Text.Json;
using GpuDistill.Data;
using GpuDistill.Models;
using GpuDistill.Methods;
using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>Reads and writes recipes; every error names the file, the key and the line.</summary>
public static class RecipeLoader
{
    /// <summary>Strict settings: an unknown key or a wrong type is an error, never ignored (<see cref="SettingsJson"/>).</summary>
    public static JsonSerializerOptions Options => SettingsJson.Options;

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
        if (!ModelFactory.IsKnown(recipe.Teacher.Model))
            Fail("teacher.model", ModelFactory.UnknownMessage(recipe.Teacher.Model));
        if (recipe.Students.Count == 0) Fail("students", "list at least one student.");
        foreach (string s in recipe.Students)
        {
            if (!ModelFactory.IsKnown(s))
                Fail("students", ModelFactory.UnknownMessage(s));
        }
        if (recipe.Methods.Count == 0 && recipe.Schemes.Count == 0) Fail("methods", "list at least one method or scheme.");
        MethodRegistry registry = recipe.Settings.Registry;
        foreach (string scheme in recipe.Schemes)
        {
            if (!registry.Schemes.Any(s => s.Name == scheme))
                Fail("schemes", $"unknown scheme '{scheme}'; known: {string.Join(", ", registry.Schemes.Select(s => s.Name))}.");
        }
        foreach (MethodSection m in recipe.Methods)
        {
            if (string.IsNullOrWhiteSpace(m.Name)) Fail("methods", "every method needs a name.");
            foreach (GridPoint point in m.Grid.Prepend(new GridPoint(m.Loss.ToString(), m.Set)))
            {
                try
                {
                    point.Apply(recipe.Settings);
                }
                catch (ArgumentException e)
                {
                    Fail($"methods[{m.Name}]", $"{point}: {e.Message.Split(" (Parameter")[0]}");
                }
            }
        }
        if (recipe.Data.ValidationPerClass < 0) Fail("data.validationPerClass", "must be >= 0.");
        if (recipe.Data.RowsOnValidation && recipe.Data.ValidationPerClass == 0)
            Fail("data.rowsOnValidation", "needs a validation split to read: set data.validationPerClass.");
        if (recipe.Data.AugmentedCopies < 0 || recipe.Data.AugmentedCopies > ImageDataset.MaxAugmentedCopies)
            Fail("data.augmentedCopies", $"must be 0 (none) to {ImageDataset.MaxAugmentedCopies}.");
        if (recipe.Data.AugmentedCopies > 0 && recipe.Data.Augment)
            Fail("data.augmentedCopies", "fixed augmented copies and live augmentation (data.augment) are two ways to the same end: choose one.");
        if (recipe.Tuning is { } tuning)
        {
            if (recipe.Data.ValidationPerClass == 0) Fail("tuning", "tuning needs a validation split: set data.validationPerClass.");
            if (tuning.Epochs < 1) Fail("tuning.epochs", "must be >= 1.");
        }
        if (recipe.Methods.Select(m => m.Name).Distinct().Count() != recipe.Methods.Count) Fail("methods", "method names must be unique.");
        try
        {
            recipe.Settings.Validate();
        }
        catch (ArgumentException e)
        {
            throw new RecipeException($"{source}: {e.Message.Split(" (Parameter")[0]}", e);
        }
        if (recipe.Seeds.Count == 0) Fail("seeds", "list at least one seed.");
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
