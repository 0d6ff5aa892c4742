using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>quant-teacher</c>.</summary>
public sealed record QuantizedTeacherSettings : QuantizedSchemeSettings
{
    /// <summary>The defaults: fine-tuning the trained teacher at a tenth of the recipe's learning rate.</summary>
    public QuantizedTeacherSettings() => LearningRateScale = 0.1;

    /// <summary>The quantized teacher's loss (a loss spec with the recipe's term settings).</summary>
    public string Loss { get; init; } = "kd:0.9,ce:0.1";

    /// <summary>Epochs of its training (0: the recipe's); fine-tuning from the teacher's weights needs few.</summary>
    public int Epochs { get; init; }

    /// <summary>Start from the trained teacher's weights (the survey's "quantized version of the teacher"); false
    /// trains the quantized architecture from the seed's initialisation.</summary>
    public bool FromTeacherWeights { get; init; } = true;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(Epochs >= 0, "epochs", Epochs, ">= 0 (0: the recipe's)");
        RequireLoss(Loss, "loss");
    }
}

/// <summary>
/// The teacher's own architecture quantized and distilled from its float self (the survey's "quantized version of
/// the teacher" as the student): a copy of the trained teacher is wrapped with fake quantization and fine-tuned
/// with the recipe's KD against the float teacher's outputs. The recipe's student does not enter (the row is listed
/// under each student for the table's sake; its run is trained once and reused). One row per seed, named by its
/// precision, with its ONNX size and latency next to the float teacher's.
/// </summary>
/// <param name="settings">Precision, loss, start and learning rate (default a tenth of the recipe's: it fine-tunes).</param>
public sealed class QuantizedTeacherScheme(QuantizedTeacherSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<QuantizedTeacherSettings>("quant-teacher",
        "The teacher's architecture quantized and distilled from its float self (starts from the teacher's weights).",
        s => new QuantizedTeacherScheme(s));

    /// <inheritdoc/>
    public string Name => "quant-teacher";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        string architecture = context.Teacher.Architecture;
        DistillModel start = settings.FromTeacherWeights
            ? QuantizedRuns.CopyOf(context.Teacher, architecture, seed)
            : ModelFactory.Create(architecture, seed);
        string method = $"{Name}-{settings.Tag}{(settings.FromTeacherWeights ? "" : "-scratch")}";
        using QuantizedModel model = QuantizedModel.Wrap(start, settings.ToOptions());
        model.train();
        TrainingRun run = QuantizedRuns.Train(context, method, model, seed, LossSpec.Parse(settings.Loss), context.TeacherOutputs,
            settings.LearningRateScale, settings.Epochs);
        string role = $"{architecture} {settings.Tag}{(settings.FromTeacherWeights ? "" : ", from scratch")}";
        return [QuantizedRuns.Row(context, Name, role, student, seed, model, run)];
    }
}
