using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace GpuDistill.Methods;

/// <summary>
/// The settings of every method a recipe may use, by name: the ones a recipe or the command line chose, and the
/// registry's defaults for the rest. Immutable; each change returns a new map. In JSON it is an object with one
/// entry per registered name (<c>"kd": { "temperature": 4 }</c>), each read strictly into that method's record.
/// </summary>
[JsonConverter(typeof(MethodSettingsMapConverter))]
public sealed class MethodSettingsMap
{
    private readonly ImmutableDictionary<string, MethodSettings> chosen;

    private MethodSettingsMap(MethodRegistry registry, ImmutableDictionary<string, MethodSettings> chosen)
    {
        Registry = registry;
        this.chosen = chosen;
    }

    /// <summary>Every method at its defaults, in <see cref="MethodRegistry.Default"/>.</summary>
    public static MethodSettingsMap Defaults => new(MethodRegistry.Default, ImmutableDictionary<string, MethodSettings>.Empty);

    /// <summary>The registry whose names and defaults this map uses.</summary>
    public MethodRegistry Registry { get; }

    /// <summary>The settings of <paramref name="name"/> (a term's or a scheme's).</summary>
    /// <exception cref="ArgumentException">For a name the registry does not know.</exception>
    public MethodSettings this[string name] =>
        chosen.TryGetValue(name, out MethodSettings? settings)
            ? settings
            : Registry.DefaultSettings(name) ?? throw UnknownName(name);

    /// <summary>The settings of <paramref name="name"/> as its record type.</summary>
    /// <typeparam name="T">The method's settings record.</typeparam>
    /// <exception cref="ArgumentException">For an unknown name, or settings of another type.</exception>
    public T Get<T>(string name) where T : MethodSettings =>
        this[name] as T ?? throw new ArgumentException($"The settings of '{name}' are {this[name].GetType().Name}, not {typeof(T).Name}.", nameof(name));

    /// <summary>Every name with its settings, in registry order (what a recipe writes).</summary>
    public IEnumerable<KeyValuePair<string, MethodSettings>> All =>
        Registry.SettingsNames.Select(name => KeyValuePair.Create(name, this[name]));

    /// <summary>This map with <paramref name="settings"/> for <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">For an unknown name or settings of the wrong type.</exception>
    public MethodSettingsMap With(string name, MethodSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        MethodSettings defaults = Registry.DefaultSettings(name) ?? throw UnknownName(name);
        if (defaults.GetType() != settings.GetType())
            throw new ArgumentException($"'{name}' takes {defaults.GetType().Name}, not {settings.GetType().Name}.", nameof(settings));
        return new MethodSettingsMap(Registry, chosen.SetItem(name, settings));
    }

    /// <summary>
    /// This map with one setting changed, written as on the command line (<c>--set dkd.beta=2</c>): the value is read
    /// as JSON (a number, true/false, a quoted or bare word, a list) into the method's record.
    /// </summary>
    /// <param name="name">The term or scheme.</param>
    /// <param name="key">The setting, camel case.</param>
    /// <param name="value">The value as text.</param>
    /// <exception cref="ArgumentException">For an unknown name or key, or a value of the wrong type; names both.</exception>
    public MethodSettingsMap Set(string name, string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return Set(name, key, ParseValue(value));
    }

    /// <summary>This map with the temperature of every method that has one set to <paramref name="temperature"/>.</summary>
    public MethodSettingsMap WithTemperature(double temperature) =>
        SetWherePresent("temperature", JsonValue.Create(temperature));

    /// <summary>This map with the layers of every method that reads layers set (null keeps each method's default).</summary>
    public MethodSettingsMap WithLayers(IReadOnlyList<string>? studentLayers, IReadOnlyList<string>? teacherLayers) =>
        SetWherePresent("studentLayers", JsonSerializer.SerializeToNode(studentLayers))
            .SetWherePresent("teacherLayers", JsonSerializer.SerializeToNode(teacherLayers));

    /// <summary>Checks every method's settings; the message names <c>settings.name.key</c>.</summary>
    /// <exception cref="ArgumentException">For the first value out of range.</exception>
    public void Validate()
    {
        foreach ((string name, MethodSettings settings) in All)
        {
            try
            {
                settings.Validate();
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"settings.{name}.{e.ParamName}: {e.Message.Split(" (Parameter")[0]}", $"settings.{name}.{e.ParamName}", e);
            }
        }
    }

    /// <summary>Reads one name's settings as JSON (strictly: an unknown key or wrong type is an error).</summary>
    internal MethodSettingsMap Read(string name, ref Utf8JsonReader reader, JsonSerializerOptions options)
    {
        MethodSettings defaults = Registry.DefaultSettings(name) ?? throw new JsonException(UnknownName(name).Message);
        var settings = (MethodSettings?)JsonSerializer.Deserialize(ref reader, defaults.GetType(), options)
            ?? throw new JsonException($"The settings of '{name}' are null.");
        return new MethodSettingsMap(Registry, chosen.SetItem(name, settings));
    }

    private MethodSettingsMap Set(string name, string key, JsonNode? value)
    {
        MethodSettings current = this[name];
        JsonObject json = JsonSerializer.SerializeToNode(current, current.GetType(), SettingsJson.Options)!.AsObject();
        if (!json.ContainsKey(key))
        {
            throw new ArgumentException(
                $"'{name}' has no setting '{key}'; it has: {(json.Count == 0 ? "none" : string.Join(", ", json.Select(p => p.Key)))}.", nameof(key));
        }
        // A list setting given one item (--set cross-modal.methods=labels) is the list of that item.
        json[key] = json[key] is JsonArray && value is JsonValue ? new JsonArray(value) : value;
        try
        {
            var changed = (MethodSettings)json.Deserialize(current.GetType(), SettingsJson.Options)!;
            return new MethodSettingsMap(Registry, chosen.SetItem(name, changed));
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{name}.{key}: '{value?.ToJsonString()}' is not a valid value ({e.Message.Split(" Path:")[0]})", nameof(value), e);
        }
    }

    private MethodSettingsMap SetWherePresent(string key, JsonNode? value)
    {
        MethodSettingsMap map = this;
        foreach ((string name, MethodSettings settings) in All)
        {
            JsonObject json = JsonSerializer.SerializeToNode(settings, settings.GetType(), SettingsJson.Options)!.AsObject();
            if (json.ContainsKey(key)) map = map.Set(name, key, value?.DeepClone());
        }
        return map;
    }

    private static JsonNode? ParseValue(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            // A bare word (e.g. equal, mid-cnn) is a string; a comma list of words is a list of strings.
            string[] parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 1 ? new JsonArray([.. parts.Select(p => (JsonNode?)JsonValue.Create(p))]) : JsonValue.Create(text);
        }
    }

    private ArgumentException UnknownName(string name) =>
        new($"No term or scheme is named '{name}'; known: {string.Join(", ", Registry.SettingsNames)}.", nameof(name));
}

/// <summary>Writes every name's settings; reads an object of names, each strictly into its method's record.</summary>
internal sealed class MethodSettingsMapConverter : JsonConverter<MethodSettingsMap>
{
    public override MethodSettingsMap Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("settings must be an object of method names.");
        MethodSettingsMap map = MethodSettingsMap.Defaults;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string name = reader.GetString()!;
            reader.Read();
            map = map.Read(name, ref reader, options);
        }
        return map;
    }

    public override void Write(Utf8JsonWriter writer, MethodSettingsMap value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        foreach ((string name, MethodSettings settings) in value.All)
        {
            writer.WritePropertyName(name);
            JsonSerializer.Serialize(writer, settings, settings.GetType(), options);
        }
        writer.WriteEndObject();
    }
}
