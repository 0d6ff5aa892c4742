using System.Text;
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

    /// <summary>
    /// Tuning on the validation split before the final rows: each method with a grid trains once per grid point (one
    /// seed, this schedule's epochs) and is judged on the validation images; the best point's loss and settings make
    /// the method's final rows. Null for no tuning. Needs <see cref="DataSection.ValidationPerClass"/>.
    /// </summary>
    public TuningSection? Tuning { get; init; }

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

    /// <summary>
    /// Shifted and mirrored copies of each training image added to the students' training set, drawn once (the moves
    /// of <see cref="Augment"/>); 0 for none. Unlike live augmentation the teacher sees each copy once and its outputs
    /// are cached, so a small student can train long on the teacher's function around the training images. The
    /// teacher itself trains on the images as stored.
    /// </summary>
    public int AugmentedCopies { get; init; }

    /// <summary>
    /// Training images per class held out as the validation split (stratified, fixed, never trained on, the teacher
    /// included); 0 for none. Tuning reads it; the final rows read the test set.
    /// </summary>
    public int ValidationPerClass { get; init; }

    /// <summary>
    /// The rows read the validation split instead of the test set: a pilot that chooses a scheme's settings (a data-free
    /// generator's weights, say), which a tuning grid does not cover. Needs <see cref="ValidationPerClass"/> above 0;
    /// the teacher's accuracy stays the test set's.
    /// </summary>
    public bool RowsOnValidation { get; init; }
}

/// <summary>How methods are tuned on the validation split (see <see cref="Recipe.Tuning"/>).</summary>
public sealed record TuningSection
{
    /// <summary>Epochs of each grid point's run (the cosine schedule is compressed to them).</summary>
    public int Epochs { get; init; } = 5;

    /// <summary>The seed of every grid point's run.</summary>
    public int Seed { get; init; } = 1;
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
    /// <summary>Settings this method changes for its own runs (<c>"kd.temperature": "2"</c>), over the recipe's.</summary>
    public IReadOnlyDictionary<string, string> Set { get; init; } = new Dictionary<string, string>();

    /// <summary>What tuning tries for this method (its grid); empty for nothing to tune.</summary>
    public IReadOnlyList<GridPoint> Grid { get; init; } = [];

    /// <summary>
    /// The name of its runs' checkpoint folders: the method's name, or once tuned the name and the picked point
    /// (<c>kd-kd0.9-ce0.1-kd.temperature=4</c>), so a later tuning that picks another point trains that point's rows
    /// beside the earlier ones instead of meeting them.
    /// </summary>
    public string RunName
    {
        get => runName ?? Name;
        init => runName = value;
    }

    private readonly string? runName;

    /// <summary>The section of a built-in method (its grid included).</summary>
    public static MethodSection BuiltIn(BuiltInMethod method)
    {
        ArgumentNullException.ThrowIfNull(method);
        return new MethodSection(method.Name, LossSpec.Parse(method.Loss)) { Grid = method.Grid };
    }

    /// <summary>The recipe's settings with this method's changes.</summary>
    public MethodSettingsMap SettingsOver(MethodSettingsMap recipe) => new GridPoint(Loss.ToString(), Set).Apply(recipe);

    /// <summary>This method as one of its grid points would run it.</summary>
    public MethodSection At(GridPoint point)
    {
        ArgumentNullException.ThrowIfNull(point);
        return this with { Loss = LossSpec.Parse(point.Loss), Set = point.Set };
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
        Dictionary<string, string> set = [];
        List<GridPoint> grid = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            switch (key)
            {
                case "name": name = ReadString(ref reader, key); break;
                case "loss": loss = ReadString(ref reader, key); break;
                case "set": set = ReadSet(ref reader); break;
                case "grid":
                    if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("'grid' must be a list of points.");
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) grid.Add(ReadPoint(ref reader));
                    break;
                default: throw new JsonException($"The JSON property '{key}' could not be mapped to any .NET member contained in type 'MethodSection'.");
            }
        }
        if (string.IsNullOrWhiteSpace(name)) throw new JsonException("every method needs a name.");
        if (string.IsNullOrWhiteSpace(loss)) throw new JsonException($"methods[{name}].loss: missing.");
        try
        {
            foreach (GridPoint point in grid) LossSpec.Parse(point.Loss);
            return new MethodSection(name, LossSpec.Parse(loss)) { Set = set, Grid = grid };
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
        if (value.Set.Count > 0)
        {
            writer.WritePropertyName("set");
            WriteSet(writer, value.Set);
        }
        if (value.Grid.Count > 0)
        {
            writer.WriteStartArray("grid");
            foreach (GridPoint point in value.Grid)
            {
                writer.WriteStartObject();
                writer.WriteString("loss", point.Loss);
                if (point.Set.Count > 0)
                {
                    writer.WritePropertyName("set");
                    WriteSet(writer, point.Set);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }

    private static void WriteSet(Utf8JsonWriter writer, IReadOnlyDictionary<string, string> set)
    {
        writer.WriteStartObject();
        foreach ((string key, string value) in set.OrderBy(s => s.Key, StringComparer.Ordinal)) writer.WriteString(key, value);
        writer.WriteEndObject();
    }

    private static string ReadString(ref Utf8JsonReader reader, string key) =>
        reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException($"'{key}' must be a string.");

    // Values are kept as text (numbers as written), as the command line's --set takes them.
    private static Dictionary<string, string> ReadSet(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("'set' must be an object of \"name.key\": value.");
        var set = new Dictionary<string, string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            set[key] = reader.TokenType switch
            {
                JsonTokenType.String => reader.GetString()!,
                JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False => Encoding.UTF8.GetString(reader.ValueSpan),
                _ => throw new JsonException($"set.{key} must be a string, a number or true/false."),
            };
        }
        return set;
    }

    private static GridPoint ReadPoint(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw new JsonException("a grid point must be an object with a loss and a set.");
        string? loss = null;
        Dictionary<string, string> set = [];
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            switch (key)
            {
                case "loss": loss = ReadString(ref reader, key); break;
                case "set": set = ReadSet(ref reader); break;
                default: throw new JsonException($"The JSON property '{key}' could not be mapped to any .NET member contained in type 'GridPoint'.");
            }
        }
        return new GridPoint(loss ?? throw new JsonException("a grid point needs a loss."), set);
    }
}
