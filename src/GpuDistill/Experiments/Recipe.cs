using System.Text.Json;
using System.Text.Json.Serialization;
using GpuDistill.Methods;
using GpuDistill.Training;

namespace GpuDistill.Experiments;

/// <summary>
/// One experiment, as written in a JSON recipe: the data, the teacher, the students, the methods (weighted named
/// loss terms), the shared loss settings, the training schedule and the seeds. <c>compare</c> is a built-in recipe.
/// </summary>
public sealed record Recipe
{
    /// <summary>A name for the results.</summary>
    public string Name { get; init; } = "experiment";

    /// <summary>Where the images come from.</summary>
    public DataSection Data { get; init; } = new();

    /// <summary>The teacher: architecture and its own schedule.</summary>
    public TeacherSection Teacher { get; init; } = new();

    /// <summary>Student architectures (names of <see cref="Models.ModelFactory"/>).</summary>
    public IReadOnlyList<string> Students { get; init; } = ["small-cnn"];

    /// <summary>The offline methods, each a weighted sum of named terms (every built-in method by default).</summary>
    public IReadOnlyList<MethodSection> Methods { get; init; } = [.. MethodRegistry.Default.Methods.Select(MethodSection.BuiltIn)];

    /// <summary>Training schemes run besides the offline methods (names of <see cref="MethodRegistry.Schemes"/>).</summary>
    public IReadOnlyList<string> Schemes { get; init; } = [];

    /// <summary>Every term's and scheme's settings, under its name (e.g. <c>"kd": { "temperature": 4 }</c>).</summary>
    public MethodSettingsMap Settings { get; init; } = MethodSettingsMap.Defaults;

    /// <summary>The students' schedule.</summary>
    public ScheduleSection Training { get; init; } = new();

    /// <summary>Each student and method is trained once per seed.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1, 2, 3];

    /// <summary>cpu, simd, cuda, opencl or auto.</summary>
    public string Accelerator { get; init; } = "auto";
}

/// <summary>The data section of a recipe.</summary>
public sealed record DataSection
{
    /// <summary>A directory with the four Fashion-MNIST IDX files; null for the embedded subset.</summary>
    public string? Directory { get; init; }

    /// <summary>Random flips and crops of the training images (the teacher then runs live on each batch).</summary>
    public bool Augment { get; init; }
}

/// <summary>The teacher section of a recipe.</summary>
public sealed record TeacherSection
{
    /// <summary>Architecture name.</summary>
    public string Model { get; init; } = "teacher-cnn";

    /// <summary>Seed of the teacher's weights and shuffling.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>The teacher's schedule.</summary>
    public ScheduleSection Training { get; init; } = new() { Epochs = 15 };
}

/// <summary>A training schedule (SGD, Nesterov momentum, cosine learning rate).</summary>
public sealed record ScheduleSection
{
    /// <summary>Epochs.</summary>
    public int Epochs { get; init; } = 15;

    /// <summary>Images per step.</summary>
    public int BatchSize { get; init; } = 128;

    /// <summary>Initial learning rate.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>SGD momentum.</summary>
    public double Momentum { get; init; } = 0.9;

    /// <summary>Weight decay.</summary>
    public double WeightDecay { get; init; } = 5e-4;

    /// <summary>The trainer's options for one seed.</summary>
    public TrainingOptions ToOptions(int seed, bool augment) => new()
    {
        Epochs = Epochs,
        BatchSize = BatchSize,
        LearningRate = LearningRate,
        Momentum = Momentum,
        WeightDecay = WeightDecay,
        Seed = seed,
        Augment = augment,
    };
}

/// <summary>A method of a recipe: a name and its weighted terms, parsed and checked when the recipe is read.</summary>
/// <param name="Name">The method's name in the results.</param>
/// <param name="Loss">Its weighted terms; in JSON the spec string, e.g. <c>"kd:0.9,ce:0.1"</c>.</param>
[JsonConverter(typeof(MethodSectionConverter))]
public sealed record MethodSection(string Name, LossSpec Loss)
{
    /// <summary>The section of a built-in method.</summary>
    public static MethodSection BuiltIn(BuiltInMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return new MethodSection(method.Name, LossSpec.Parse(method.Loss));
    }
}

/// <summary>
/// Reads <c>{"name": ..., "loss": "kd:0.9,ce:0.1"}</c>, parsing the spec once; a bad spec is an error that names the
/// method (<c>methods[x].loss</c>).
/// </summary>
internal sealed class MethodSectionConverter : JsonConverter<MethodSection>
{
    public override MethodSection Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("a method must be an object with a name and a loss.");
        string? name = null, loss = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String) throw new JsonException($"'{key}' must be a string.");
            switch (key)
            {
                case "name": name = reader.GetString(); break;
                case "loss": loss = reader.GetString(); break;
                default: throw new JsonException($"The JSON property '{key}' could not be mapped to any .NET member contained in type 'MethodSection'.");
            }
        }
        if (string.IsNullOrWhiteSpace(name)) throw new JsonException("every method needs a name.");
        if (string.IsNullOrWhiteSpace(loss)) throw new JsonException($"methods[{name}].loss: missing.");
        try
        {
            return new MethodSection(name, LossSpec.Parse(loss));
        }
        catch (ArgumentException e)
        {
            throw new JsonException($"methods[{name}].loss: {e.Message.Split(" (Parameter")[0]}", e);
        }
    }

    public override void Write(Utf8JsonWriter writer, MethodSection value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        writer.WriteString("name", value.Name);
        writer.WriteString("loss", value.Loss.ToString());
        writer.WriteEndObject();
    }
}
