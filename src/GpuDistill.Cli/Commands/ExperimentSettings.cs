using System.ComponentModel;
using System.Globalization;
using GpuDistill.Experiments;
using GpuDistill.Methods;
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
    [Description("Student epochs (default 12).")]
    public int? Epochs { get; init; }

    [CommandOption("--teacher-epochs <N>")]
    [Description("Teacher epochs (default 25 on the embedded subset, 10 on the full set).")]
    public int? TeacherEpochs { get; init; }

    [CommandOption("--batch-size <N>")]
    [Description("Images per step (default 128).")]
    public int? BatchSize { get; init; }

    [CommandOption("--lr <RATE>")]
    [Description("Initial learning rate, cosine schedule (default 0.05).")]
    public double? LearningRate { get; init; }

    [CommandOption("-T|--temperature <T>")]
    [Description("Temperature of every softened term (default: each method's own, 4; byot 3).")]
    public double? Temperature { get; init; }

    [CommandOption("--set <NAME.KEY=VALUE>")]
    [Description("Any method's setting, e.g. --set dkd.beta=2 --set at.p=4 (repeatable; keys as in a recipe's settings).")]
    public string[] Set { get; init; } = [];

    [CommandOption("--seeds <LIST>")]
    [Description("Comma-separated seeds (default 1,2,3; distill: 1).")]
    public string? Seeds { get; init; }

    [CommandOption("--students <LIST>")]
    [Description("Comma-separated student architectures (default small-cnn; the architectures are listed above); 'ladder' for the capacity-gap sweep's students, small-cnn,cnn-w12,mid-cnn,cnn-w24.")]
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
    [Description("dml: peers trained together (2 or more; default 2); same as --set dml.peers=N.")]
    public int? Peers { get; init; }

    [CommandOption("--tasks <N>")]
    [Description("lifelong: tasks the classes are split into (default 5); same as --set lifelong.tasks=N.")]
    public int? Tasks { get; init; }

    [CommandOption("--memory <N>")]
    [Description("lifelong: exemplars kept by replay and iCaRL (default 2000); same as --set lifelong.memory=N.")]
    public int? Memory { get; init; }

    [CommandOption("--modality <NAME>")]
    [Description("cross-modal: the second modality, radon or profiles (default radon); same as --set cross-modal.modality=NAME.")]
    public string? Modality { get; init; }

    [CommandOption("--generations <N>")]
    [Description("born-again: generations after the first (default 2); same as --set born-again.generations=N.")]
    public int? Generations { get; init; }

    [CommandOption("--assistant <MODEL>")]
    [Description("takd: the assistant's architecture (default mid-cnn); same as --set takd.assistant=NAME.")]
    public string? Assistant { get; init; }

    [CommandOption("--extra-teachers <LIST>")]
    [Description("multi-teacher: architectures trained alone (seed 1) to teach next to the teacher (default mid-cnn).")]
    public string? ExtraTeachers { get; init; }

    [CommandOption("--teacher-weighting <MODE>")]
    [Description("multi-teacher: confidence (each teacher's probability of the true label; default) or equal; same as --set multi-kd.weighting=MODE.")]
    public string? TeacherWeighting { get; init; }

    [CommandOption("--validation <PER_CLASS>")]
    [Description("Training images per class held out as a validation split, never trained on (default 0; 500 with --tune).")]
    public int? ValidationPerClass { get; init; }

    [CommandOption("--tune <EPOCHS>")]
    [Description("Tune each method on the validation split first: one run per point of its grid ('gpudistill methods' lists them) of EPOCHS epochs; the best point makes the final rows.")]
    public int? TuneEpochs { get; init; }

    [CommandOption("--distributed")]
    [Description("Train over the processes of mpirun -np N (Open MPI): data-parallel, each rank a shard of every batch; dml: one peer per rank. Rank 0 writes the results.")]
    public bool Distributed { get; init; }

    [CommandOption("--batch-norm <MODE>")]
    [Description("With --distributed: local (each rank's shard; default) or sync (the whole batch's statistics, as one process).")]
    public string? BatchNorm { get; init; }

    [CommandOption("--teacher-cache <DIR>")]
    [Description("Read the teacher's outputs from a cache written by 'gpudistill cache-teacher' (Parquet) instead of running it; refused if it is not this teacher's on this training set.")]
    public string? TeacherCache { get; init; }

    [CommandOption("--resume")]
    [Description("Continue unfinished runs from their last completed epoch.")]
    public bool Resume { get; init; }

    /// <summary>The built-in recipe with every given option applied.</summary>
    /// <exception cref="ArgumentException">For a bad value; the message names the option.</exception>
    public Recipe Apply(Recipe recipe)
    {
        return recipe with
        {
            Data = recipe.Data with
            {
                Directory = Data ?? recipe.Data.Directory,
                Augment = Augment || recipe.Data.Augment,
                ValidationPerClass = ValidationPerClass ?? (TuneEpochs is null ? recipe.Data.ValidationPerClass : 500),
            },
            Tuning = TuneEpochs is int tune ? new TuningSection { Epochs = tune } : recipe.Tuning,
            Accelerator = Accelerator ?? recipe.Accelerator,
            Students = Students is null ? recipe.Students
                : Students == "ladder" ? [.. GpuDistill.Diagnostics.CapacityLadder.DefaultStudents] : Split(Students),
            Seeds = Seeds is null ? recipe.Seeds : ParseSeeds(Seeds),
            Settings = ApplySettings(recipe.Settings),
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
        };
    }

    /// <summary>The method settings the options change: each dedicated option is one setting, --set any other.</summary>
    private MethodSettingsMap ApplySettings(MethodSettingsMap settings)
    {
        if (Temperature is double t) settings = Option("-T", () => settings.WithTemperature(t));
        if (StudentLayers is not null || TeacherLayers is not null)
        {
            settings = settings.WithLayers(StudentLayers is null ? null : Split(StudentLayers),
                TeacherLayers is null ? null : Split(TeacherLayers));
        }
        if (Peers is int peers) settings = Option("--peers", () => settings.Set("dml", "peers", peers.ToString(CultureInfo.InvariantCulture)));
        if (Generations is int g) settings = Option("--generations", () => settings.Set("born-again", "generations", g.ToString(CultureInfo.InvariantCulture)));
        if (Tasks is int tasks) settings = Option("--tasks", () => settings.Set("lifelong", "tasks", tasks.ToString(CultureInfo.InvariantCulture)));
        if (Memory is int memory) settings = Option("--memory", () => settings.Set("lifelong", "memory", memory.ToString(CultureInfo.InvariantCulture)));
        if (Modality is not null) settings = Option("--modality", () => settings.Set("cross-modal", "modality", Modality));
        if (Assistant is not null) settings = Option("--assistant", () => settings.Set("takd", "assistant", Assistant));
        if (ExtraTeachers is not null)
            settings = Option("--extra-teachers", () => settings.Set("multi-teacher", "extraTeachers", "[" + string.Join(',', Split(ExtraTeachers).Select(n => $"\"{n}\"")) + "]"));
        if (TeacherWeighting is not null) settings = Option("--teacher-weighting", () => settings.Set("multi-kd", "weighting", TeacherWeighting));
        foreach (string assignment in Set)
        {
            int dot = assignment.IndexOf('.', StringComparison.Ordinal), equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (dot <= 0 || equals < dot + 2)
                throw new ArgumentException($"--set {assignment}: expected NAME.KEY=VALUE, e.g. --set dkd.beta=2.", nameof(Set));
            string name = assignment[..dot], key = assignment[(dot + 1)..equals], value = assignment[(equals + 1)..];
            settings = Option($"--set {assignment}", () => settings.Set(name, key, value));
        }
        return settings;

        // The option's checks are the settings' own; a failure names the option, not a recipe key.
        static MethodSettingsMap Option(string option, Func<MethodSettingsMap> change)
        {
            try
            {
                MethodSettingsMap changed = change();
                changed.Validate();
                return changed;
            }
            catch (ArgumentException e)
            {
                string reason = e.Message.Split(" (Parameter")[0];
                int colon = reason.IndexOf(": ", StringComparison.Ordinal);
                if (reason.StartsWith("settings.", StringComparison.Ordinal) && colon > 0) reason = reason[(colon + 2)..];
                throw new ArgumentException($"{option}: {reason}", option, e);
            }
        }
    }

    private static int[] ParseSeeds(string list) =>
        [.. Split(list).Select(s => int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed)
            ? seed
            : throw new ArgumentException($"--seeds: '{s}' is not a whole number.", nameof(Seeds)))];

    private static string[] Split(string list) => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
