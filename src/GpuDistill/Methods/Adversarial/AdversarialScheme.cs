using GpuDistill.Data;
using GpuDistill.Diagnostics;
using GpuDistill.Models;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>
/// The settings of <c>adversarial</c>: DFAD's generator (Adam 1e-3, one generator step per 5 student steps) on top
/// of the recipe's KD with real data.
/// </summary>
public sealed record AdversarialSettings : GeneratorSettings
{
    /// <summary>64 generated images appended to every real batch; the generator's images in the loader's pixel range
    /// (real and generated rows share one value range).</summary>
    public AdversarialSettings()
    {
        BatchSize = 64;
        GeneratorLearningRate = 1e-3;
        StudentStepsPerGeneratorStep = 5;
    }

    /// <summary>The divergence the generator maximises: <c>kl</c> (ZSKT's, the fused two-sided kernel), <c>l1</c> or
    /// <c>probability-l1</c>.</summary>
    public string Divergence { get; init; } = "kl";

    /// <summary>The student's loss on the mixed batches: KD on every row, CE on the real rows (generated rows carry
    /// the ignore label).</summary>
    public string Loss { get; init; } = "kd:0.9,ce:0.1";

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(GeneratorDivergence.Names.Contains(Divergence), "divergence", Divergence, $"one of {string.Join(", ", GeneratorDivergence.Names)}");
        Require(!string.IsNullOrWhiteSpace(Loss), "loss", Loss, "a loss spec such as kd:0.9,ce:0.1");
    }
}

/// <summary>
/// Adversarial distillation with real data (the survey's "a generator poses difficult questions to the teacher, and
/// the student learns how to answer them"): a generator maximises the teacher-student divergence on its images
/// through the frozen teacher and the student; the student learns with KD on real plus generated rows and CE on the
/// real ones (<see cref="MixedBatchSource"/>). Settings without a reference code: this port's.
/// </summary>
/// <param name="settings">The generator, its schedule and the student's loss.</param>
public sealed class AdversarialScheme(AdversarialSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<AdversarialSettings>("adversarial",
        "Adversarial KD with real data: a generator makes hard images (max divergence), the student learns KD on them plus KD + CE on real batches.",
        s => new AdversarialScheme(s));

    /// <inheritdoc/>
    public string Name => "adversarial";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        TrainingOptions options = context.Options(seed);
        ImageBatcher real = Trainer.TrainingBatches(context.Train, options);
        using ImageGenerator generator = settings.CreateGenerator(seed, 0);
        using DistillModel model = ModelFactory.Create(student, seed);
        using GeneratorBatchSource made = settings.CreateSource(generator, context.Teacher, new DivergenceGame(settings.Divergence, model), real.BatchCount, seed);
        // Generated rows have no dataset index: the batches carry the teacher's logits (the real rows' from the cache,
        // when the batches are not augmented), and the teacher runs live on whatever they lack.
        using TeacherOutputs teacher = TeacherOutputs.Create(context.Teacher, context.Train, cache: false);
        WeightedLoss loss = LossSpec.Parse(settings.Loss).Create(context.Recipe.Settings);
        string directory = context.ClaimDirectory(Name, student, seed, loss, scheme: Name, options: options);
        TrainingRun run = new Trainer(options, context.Progress, new MixedBatchSource(real, made, context.TeacherOutputs)).Fit($"{Name}/{student}/seed{seed}", model,
            loss, context.Train, context.Test, loss.NeedsTeacher ? teacher : null, directory, context.Resume, context.CancellationToken);
        (long images, long steps) = DataFreeTraining.KeepFinalGenerator(made, directory);
        string png = Path.Combine(context.OutputDirectory, "generated", $"{Name}-{student}-seed{seed}.png");
        Directory.CreateDirectory(Path.GetDirectoryName(png)!);
        GeneratedImageGrid.Write(generator, context.Teacher, png, settings.GridImagesPerClass, seed);
        context.Log($"{Name}/{student}/seed{seed}: generated images per class in {png}");
        string note = $"adversarial: {images:N0} generated images beside the real ones, {steps:N0} generator steps";
        return [new SchemeRow("", run, note, context.Fidelity(model))];
    }
}
