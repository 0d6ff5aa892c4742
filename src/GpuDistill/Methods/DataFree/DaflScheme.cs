using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>dafl</c>: DAFL's MNIST defaults (its argparse, loss-spec-2 7.1).</summary>
public sealed record DaflSettings : GeneratorSettings
{
    /// <summary>DAFL's MNIST defaults: batch 512, 120 iterations per epoch, latent 100, generator Adam 0.2, the
    /// generator ending in an affine-free batch norm.</summary>
    public DaflSettings()
    {
        BatchSize = 512;
        StepsPerEpoch = 120;
        LatentSize = 100;
        GeneratorLearningRate = 0.2;
        BatchNormalizedOutput = true;
    }

    /// <summary>Weight of the one-hot loss (cross-entropy to the teacher's own argmax).</summary>
    public double OneHot { get; init; } = 1.0;

    /// <summary>Weight of the information-entropy (class-balance) loss.</summary>
    public double InformationEntropy { get; init; } = 5.0;

    /// <summary>Weight of the activation loss on the teacher's penultimate features.</summary>
    public double Activation { get; init; } = 0.1;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        RequireWeight(OneHot, "oneHot");
        RequireWeight(InformationEntropy, "informationEntropy");
        RequireWeight(Activation, "activation");
    }
}

/// <summary>
/// DAFL, data-free learning of student networks (Chen et al. 2019): the teacher is a fixed discriminator; each step a
/// generator batch is scored by the teacher's one-hot, information-entropy and activation losses
/// (<see cref="Losses.DaflGenerator"/>) and the generator steps, then the student learns on the same images (detached)
/// by KL(teacher || student) at T = 1, batchmean. No training image is read.
/// </summary>
/// <remarks>
/// The student trains with the recipe's schedule (SGD, Nesterov, cosine) where DAFL's MNIST run uses Adam 2e-3.
/// </remarks>
/// <param name="settings">The loss weights and generator settings.</param>
public sealed class DaflScheme(DaflSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<DaflSettings>("dafl",
        "DAFL, data-free: a generator scored by the teacher (one-hot, class balance, activation) makes the student's only inputs (Chen et al. 2019).",
        s => new DaflScheme(s));

    /// <inheritdoc/>
    public string Name => "dafl";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        WeightedLoss loss = WeightedLoss.Parse("kd:1", context.Recipe.Settings.With("kd", new KDSettings { Temperature = 1 }));
        return DataFreeTraining.RunScheme(context, Name, student, seed, settings, 0, _ => new Game(settings), loss);
    }

    /// <summary>One generator step per <see cref="GeneratorSettings.StudentStepsPerGeneratorStep"/> student steps (DAFL's
    /// 1), on the images the student then learns from.</summary>
    private sealed class Game(DaflSettings settings) : IGeneratorGame
    {
        public IReadOnlyList<TrainedModule> Extras => [];

        public GameImages? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep)
        {
            Tensor images = source.Generate(source.BatchSize);
            using ModelOutput teacher = source.Teacher.Forward(images);
            Tensor loss = Losses.DaflGenerator(teacher.Logits, teacher.Pooled, settings.OneHot, settings.InformationEntropy, settings.Activation);
            source.GeneratorStep(loss, epoch, studentStep);
            return new GameImages(images, teacher.Logits.detach());
        }
    }
}
