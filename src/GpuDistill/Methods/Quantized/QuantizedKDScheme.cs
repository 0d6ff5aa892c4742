using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>Where the quantized student's weights start.</summary>
public enum QuantizedStart
{
    /// <summary>From the seed's initialisation (Polino et al.; Apprentice's scheme B).</summary>
    Scratch,

    /// <summary>From the float student trained alone (the <c>none</c> run of the same seed, reused when it exists): Apprentice's scheme C.</summary>
    FloatStudent,
}

/// <summary>The settings of <c>quant-kd</c>.</summary>
public sealed record QuantizedKDSettings : QuantizedSchemeSettings
{
    /// <summary>The quantized student's loss (a loss spec; its terms' settings are the recipe's, e.g. <c>kd.temperature</c>).</summary>
    public string Loss { get; init; } = "kd:0.9,ce:0.1";

    /// <summary>Where the student's weights start.</summary>
    public QuantizedStart StartFrom { get; init; } = QuantizedStart.Scratch;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(Enum.IsDefined(StartFrom), "startFrom", StartFrom, "scratch or floatStudent");
        RequireLoss(Loss, "loss");
    }
}

/// <summary>
/// The quantized student distilled from the float teacher: Polino et al. 2018 (quantized distillation: full-precision
/// weights kept, the forward pass with quantized ones, the gradient applied straight through) and Mishra &amp; Marr
/// 2018 (Apprentice, scheme B with a fixed teacher; scheme C with <c>startFrom: floatStudent</c>). The loss is the
/// recipe's KD (<c>kd:0.9,ce:0.1</c>) by default; Polino's reference is <c>loss: "kd:0.7,ce:0.3"</c> with
/// <c>kd.temperature: 2</c> (its KL is an elementwise mean, ours a batch mean), Apprentice's <c>kd:0.5,ce:0.5</c> at
/// temperature 1. One row per seed, named by its precision, with its ONNX size and latency next to the teacher's.
/// </summary>
/// <param name="settings">Precision, loss and start.</param>
public sealed class QuantizedKDScheme(QuantizedKDSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<QuantizedKDSettings>("quant-kd",
        "The quantized student distilled from the float teacher (Polino et al. 2018; Apprentice, Mishra & Marr 2018: startFrom floatStudent is its scheme C).",
        s => new QuantizedKDScheme(s));

    /// <inheritdoc/>
    public string Name => "quant-kd";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        DistillModel start;
        string method = $"{Name}-{settings.Tag}";
        if (settings.StartFrom == QuantizedStart.FloatStudent)
        {
            (start, _) = context.TrainModel("none", student, seed, LossSpec.ForMethod("none"), null);
            method += "-from-float";
        }
        else
        {
            start = ModelFactory.Create(student, seed);
        }
        // The default loss keeps the plain name; another loss is another run.
        if (settings.Loss != new QuantizedKDSettings().Loss) method += "-" + new string([.. settings.Loss.Where(c => c != ' ').Select(c => char.IsLetterOrDigit(c) || c is '.' or '-' ? c : '_')]);
        using QuantizedModel model = QuantizedModel.Wrap(start, settings.ToOptions());
        TrainingRun run = QuantizedRuns.Train(context, method, model, seed, LossSpec.Parse(settings.Loss), context.TeacherOutputs,
            settings.LearningRateScale);
        string role = settings.StartFrom == QuantizedStart.FloatStudent ? $"{settings.Tag}, from float" : settings.Tag;
        return [QuantizedRuns.Row(context, Name, role, student, seed, model, run)];
    }
}
