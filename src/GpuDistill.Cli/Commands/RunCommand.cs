using System.ComponentModel;
using System.Text.Json;
using GpuDistill.Experiments;
using GpuDistill.Models;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill run recipe.json</c>: runs a recipe file.</summary>
internal sealed class RunCommand : Command<RunCommand.Settings>
{
    internal sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<RECIPE>")]
        [Description("The JSON recipe (a results folder's recipe.json re-runs that experiment).")]
        public string Recipe { get; init; } = "";

        [CommandOption("-o|--out <DIR>")]
        public string? Out { get; init; }

        [CommandOption("--resume")]
        public bool Resume { get; init; }
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        // A searched student (gpudistill search's winner) is named by its shape: make it known before the recipe's checks.
        ModelFactory.RegisterSearched(ModelNames(settings.Recipe));
        Recipe recipe = RecipeLoader.Load(settings.Recipe);
        return RecipeRunner.Run(recipe, settings.Out ?? Path.Combine("runs", recipe.Name), settings.Resume, cancellationToken);
    }

    /// <summary>The students and teacher a recipe file names; none when it cannot be read (the loader reports why).</summary>
    private static List<string> ModelNames(string path)
    {
        try
        {
            using JsonDocument json = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var names = new List<string>();
            if (json.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (json.RootElement.TryGetProperty("students", out JsonElement students) && students.ValueKind == JsonValueKind.Array)
                    names.AddRange(students.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
                if (json.RootElement.TryGetProperty("teacher", out JsonElement teacher) && teacher.ValueKind == JsonValueKind.Object
                    && teacher.TryGetProperty("model", out JsonElement model) && model.ValueKind == JsonValueKind.String)
                    names.Add(model.GetString()!);
            }
            return names;
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
