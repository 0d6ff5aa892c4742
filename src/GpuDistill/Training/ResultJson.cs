using System.Text.Json;

namespace GpuDistill.Training;

/// <summary>The JSON settings of everything GpuDistill writes (results, checkpoint state).</summary>
public static class ResultJson
{
    /// <summary>Indented, camelCase; NaN written as "NaN" (an ensemble's record has no training loss).</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
