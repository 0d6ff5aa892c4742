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

    /// <summary>The methods, each a weighted sum of named terms.</summary>
    public IReadOnlyList<MethodSection> Methods { get; init; } =
        [.. LossCatalog.Methods.Select(m => new MethodSection { Name = m.Key, Loss = m.Value })];

    /// <summary>Training schemes run besides the offline methods: dml, byot, born-again, takd, multi-teacher.</summary>
    public IReadOnlyList<string> Schemes { get; init; } = [];

    /// <summary>The schemes' settings.</summary>
    public SchemeSection SchemeSettings { get; init; } = new();

    /// <summary>Temperature and per-term parameters shared by the methods.</summary>
    public LossSettings Loss { get; init; } = new();

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

/// <summary>A method of a recipe: a name and its weighted loss terms.</summary>
public sealed record MethodSection
{
    /// <summary>The method's name in the results.</summary>
    public string Name { get; init; } = "";

    /// <summary>Weighted named terms, e.g. <c>kd:0.9,ce:0.1</c>.</summary>
    public string Loss { get; init; } = "";
}

/// <summary>Settings of the training schemes.</summary>
public sealed record SchemeSection
{
    /// <summary>Peers trained together by <c>dml</c> (&gt;= 2).</summary>
    public int Peers { get; init; } = 2;

    /// <summary>Generations after the first in <c>born-again</c> (&gt;= 1).</summary>
    public int Generations { get; init; } = 2;

    /// <summary>The teacher assistant's architecture in <c>takd</c>.</summary>
    public string Assistant { get; init; } = "mid-cnn";

    /// <summary>Teachers added to the recipe's one in <c>multi-teacher</c>: architectures, each trained alone with
    /// seed 1 and the students' schedule.</summary>
    public IReadOnlyList<string> ExtraTeachers { get; init; } = ["mid-cnn"];

    /// <summary>How <c>multi-teacher</c> weighs its teachers: <c>confidence</c> (per example) or <c>equal</c>.</summary>
    public string TeacherWeighting { get; init; } = "confidence";
}
