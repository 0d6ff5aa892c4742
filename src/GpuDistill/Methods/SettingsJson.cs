using System.Text.Json;
using System.Text.Json.Serialization;

namespace GpuDistill.Methods;

/// <summary>
/// The JSON rules of recipes and method settings: camel-case keys, an unknown key or a wrong type is an error (never
/// ignored), enums as camel-case words, comments and trailing commas allowed, every field written.
/// </summary>
public static class SettingsJson
{
    /// <summary>The strict options.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false) },
    };
}
