using System.ComponentModel;
using GpuDistill.Experiments;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>Options every training command shares; each one overrides the built-in recipe when given.</summary>
internal class ExperimentSettings : CommandSettings
{
    [CommandOption("--data <DIR>")]
    [Description("Directory with the four Fashion-MNIST IDX files (e.g. /usr/share/datasets/fashion-mnist). Default: the embedded subset.")]
    public string? Data { get; init; }

    [CommandOption("-o|--out <DIR>")]
    [Description("Output directory: teacher, checkpoints, results. Default: runs/<command>.")]
    public string? Out { get; init; }

    [CommandOption("--accelerator <KIND>")]
    [Description("cpu, simd, cuda, opencl or auto (default).")]
    public string? Accelerator { get; init; }

    [CommandOption("--epochs <N>")]
    [Description("Student epochs.")]
    public int? Epochs { get; init; }

    [CommandOption("--teacher-epochs <N>")]
    [Description("Teacher epochs.")]
    public int? TeacherEpochs { get; init; }

    [CommandOption("--batch-size <N>")]
    public int? BatchSize { get; init; }

    [CommandOption("--lr <RATE>")]
    [Description("Initial learning rate (cosine schedule).")]
    public double? LearningRate { get; init; }

    [CommandOption("-T|--temperature <T>")]
    public double? Temperature { get; init; }

    [CommandOption("--seeds <LIST>")]
    [Description("Comma-separated seeds, e.g. 1,2,3.")]
    public string? Seeds { get; init; }

    [CommandOption("--students <LIST>")]
    [Description("Comma-separated student models: small-cnn, mid-cnn, mlp, teacher-cnn.")]
    public string? Students { get; init; }

    [CommandOption("--student-layers <PATHS>")]
    [Description("Student layers (module paths, e.g. stage1,stage2; 'head:in' for a module's input) for feature methods. Default: each method's own.")]
    public string? StudentLayers { get; init; }

    [CommandOption("--teacher-layers <PATHS>")]
    [Description("Teacher layers for feature methods, paired with --student-layers by position.")]
    public string? TeacherLayers { get; init; }

    [CommandOption("--augment")]
    [Description("Random flips and crops of the training images.")]
    public bool Augment { get; init; }

    [CommandOption("--peers <N>")]
    [Description("dml: peers trained together (2 or more; default 2).")]
    public int? Peers { get; init; }

    [CommandOption("--generations <N>")]
    [Description("born-again: generations after the first (default 2).")]
    public int? Generations { get; init; }

    [CommandOption("--assistant <MODEL>")]
    [Description("takd: the assistant's architecture (default mid-cnn).")]
    public string? Assistant { get; init; }

    [CommandOption("--extra-teachers <LIST>")]
    [Description("multi-teacher: architectures trained alone (seed 1) to teach next to the teacher (default mid-cnn).")]
    public string? ExtraTeachers { get; init; }

    [CommandOption("--teacher-weighting <MODE>")]
    [Description("multi-teacher: confidence (each teacher's probability of the true label; default) or equal.")]
    public string? TeacherWeighting { get; init; }

    [CommandOption("--resume")]
    [Description("Continue unfinished runs from their last completed epoch.")]
    public bool Resume { get; init; }

    /// <summary>The built-in recipe with every given option applied.</summary>
    public Recipe Apply(Recipe recipe)
    {
        return recipe with
        {
            Data = recipe.Data with { Directory = Data ?? recipe.Data.Directory, Augment = Augment || recipe.Data.Augment },
            Accelerator = Accelerator ?? recipe.Accelerator,
            Students = Students is null ? recipe.Students : Split(Students),
            Seeds = Seeds is null ? recipe.Seeds : Split(Seeds).Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
            Loss = recipe.Loss with
            {
                Temperature = Temperature ?? recipe.Loss.Temperature,
                StudentLayers = StudentLayers is null ? recipe.Loss.StudentLayers : Split(StudentLayers),
                TeacherLayers = TeacherLayers is null ? recipe.Loss.TeacherLayers : Split(TeacherLayers),
            },
            Teacher = recipe.Teacher with
            {
                Training = recipe.Teacher.Training with { Epochs = TeacherEpochs ?? recipe.Teacher.Training.Epochs },
            },
            Training = recipe.Training with
            {
                Epochs = Epochs ?? recipe.Training.Epochs,
                BatchSize = BatchSize ?? recipe.Training.BatchSize,
                LearningRate = LearningRate ?? recipe.Training.LearningRate,
            },
            SchemeSettings = recipe.SchemeSettings with
            {
                Peers = Peers ?? recipe.SchemeSettings.Peers,
                Generations = Generations ?? recipe.SchemeSettings.Generations,
                Assistant = Assistant ?? recipe.SchemeSettings.Assistant,
                ExtraTeachers = ExtraTeachers is null ? recipe.SchemeSettings.ExtraTeachers : Split(ExtraTeachers),
                TeacherWeighting = TeacherWeighting ?? recipe.SchemeSettings.TeacherWeighting,
            },
        };
    }

    private static string[] Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
