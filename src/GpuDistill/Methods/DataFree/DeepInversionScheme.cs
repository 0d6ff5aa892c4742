using GpuDistill.Features;
using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The settings of <c>deep-inversion</c>: DeepInversion's loss weights from its <c>imagenet_inversion.py</c> argparse
/// (loss-spec-2 7.2); the generator's learning rate, batch and steps are this port's (the reference fits pixels
/// directly with Adam 0.2, betas (0.5, 0.9), which this port keeps for betas).
/// </summary>
public sealed record DeepInversionSettings : GeneratorSettings
{
    /// <summary>A batch of 64 (the argparse's bs), 120 student steps per epoch, generator Adam 1e-3.</summary>
    public DeepInversionSettings()
    {
        BatchSize = 64;
        StepsPerEpoch = 120;
        GeneratorLearningRate = 1e-3;
    }

    /// <summary>Weight of the cross-entropy of the teacher's logits to the sampled labels (main_loss_multiplier).</summary>
    public double MainLoss { get; init; } = 1.0;

    /// <summary>Weight of the BN-statistics loss over every teacher BN layer (r_feature).</summary>
    public double RFeature { get; init; } = 0.05;

    /// <summary>Extra weight of the first BN layer (first_bn_multiplier).</summary>
    public double FirstBnMultiplier { get; init; } = 10;

    /// <summary>Weight of the L2 total variation (tv_l2).</summary>
    public double TvL2 { get; init; } = 1e-4;

    /// <summary>Weight of the L1 total variation (tv_l1).</summary>
    public double TvL1 { get; init; }

    /// <summary>Weight of the image L2 prior (l2).</summary>
    public double L2 { get; init; } = 1e-5;

    /// <summary>Largest random roll in pixels before the teacher sees a batch: the reference's 30 at 224 pixels,
    /// scaled to 28 (30 * 28 / 224 = 3.75, rounded up).</summary>
    public int Jitter { get; init; } = 4;

    /// <summary>Weight of Adaptive DeepInversion's competition term (adi_scale; the argparse's 0 is plain
    /// DeepInversion): the images move to where teacher and student disagree, which keeps them varied.</summary>
    public double AdiScale { get; init; }

    /// <summary>Weight of MSGAN's mode-seeking term (<see cref="Losses.ModeSeeking"/>; not in DeepInversion, 0 leaves
    /// it out): each batch is two halves made for the same labels from different codes, and the term makes their
    /// images differ, against a generator that draws one image per class whatever its code.</summary>
    public double Diversity { get; init; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        RequireWeight(Diversity, "diversity");
        Require(Diversity == 0 || BatchSize % 2 == 0, "batchSize", BatchSize, "even when diversity > 0 (two halves with the same labels)");
        RequireWeight(MainLoss, "mainLoss");
        RequireWeight(RFeature, "rFeature");
        RequireWeight(FirstBnMultiplier, "firstBnMultiplier");
        RequireWeight(TvL2, "tvL2");
        RequireWeight(TvL1, "tvL1");
        RequireWeight(L2, "l2");
        Require(Jitter >= 0, "jitter", Jitter, ">= 0");
        RequireWeight(AdiScale, "adiScale");
    }
}

/// <summary>
/// DeepInversion (Yin et al. 2020), data-free, with a class-conditional generator in place of per-batch pixel
/// optimisation: each step the generator makes images for random labels, and learns so that the teacher classifies
/// them as those labels while the statistics of every teacher BN layer's input match its running mean and variance
/// (<see cref="Losses.BatchNormStatistics"/>, one fused kernel over all layers), with total-variation and L2 image
/// priors, and, with <see cref="DeepInversionSettings.AdiScale"/> above 0, Adaptive DeepInversion's competition term
/// with the student (<see cref="Losses.Competition"/>), and with <see cref="DeepInversionSettings.Diversity"/> above 0
/// MSGAN's mode-seeking term (<see cref="Losses.ModeSeeking"/>); the student learns on the same images (detached) by the recipe's
/// KD. No training image is read.
/// </summary>
/// <param name="settings">The loss weights and generator settings.</param>
public sealed class DeepInversionScheme(DeepInversionSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<DeepInversionSettings>("deep-inversion",
        "DeepInversion, data-free: a conditional generator matches the teacher's BN statistics, labels and image priors (Yin et al. 2020).",
        s => new DeepInversionScheme(s));

    /// <inheritdoc/>
    public string Name => "deep-inversion";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        WeightedLoss loss = WeightedLoss.Parse("kd:1", context.Recipe.Settings);
        return DataFreeTraining.RunScheme(context, Name, student, seed, settings, DistillModel.ClassCount,
            model => new Game(settings, context.Teacher, model, seed), loss, (0.5, 0.9));
    }

    /// <summary>The generator's inversion of the teacher, one step before every
    /// <see cref="GeneratorSettings.StudentStepsPerGeneratorStep"/> student steps (1 by default).</summary>
    internal sealed class Game : IGeneratorGame, IDisposable
    {
        private readonly DeepInversionSettings settings;
        private readonly BatchNormInputCapture capture;
        private readonly DistillModel student;
        private readonly Random jitter;

        /// <summary>Hooks every BN layer of <paramref name="teacher"/>.</summary>
        /// <exception cref="ArgumentException">The teacher has no batch-norm layer.</exception>
        public Game(DeepInversionSettings settings, DistillModel teacher, DistillModel student, int seed)
        {
            ArgumentNullException.ThrowIfNull(teacher);
            ArgumentNullException.ThrowIfNull(student);
            this.settings = settings;
            this.student = student;
            capture = new BatchNormInputCapture(teacher);
            jitter = new Random(seed);
        }

        /// <inheritdoc/>
        public IReadOnlyList<TrainedModule> Extras => [];

        /// <inheritdoc/>
        public GameImages? BeforeStudentStep(GeneratorBatchSource source, int epoch, int studentStep)
        {
            ArgumentNullException.ThrowIfNull(source);
            capture.Clear();
            int half = source.BatchSize / 2;
            Tensor labels = settings.Diversity > 0 ? source.RandomLabels(half).repeat(2) : source.RandomLabels(source.BatchSize);
            Tensor latent = source.Latent(source.BatchSize);
            Tensor images = source.Generate(latent, labels);
            Tensor seen = settings.Jitter == 0
                ? images
                : images.roll([jitter.Next(-settings.Jitter, settings.Jitter + 1), jitter.Next(-settings.Jitter, settings.Jitter + 1)], [2, 3]);
            Tensor logits = source.Teacher.ForwardLogits(seen);
            Tensor loss = nn.functional.cross_entropy(logits, labels).mul(settings.MainLoss)
                .add(Losses.BatchNormStatistics(capture.Layers(settings.FirstBnMultiplier)).mul(settings.RFeature))
                .add(Losses.TotalVariationL2(seen).mul(settings.TvL2))
                .add(Losses.TotalVariationL1(seen).mul(settings.TvL1))
                .add(Losses.ImageL2Prior(seen).mul(settings.L2));
            if (settings.Diversity > 0)
            {
                loss = loss.add(Losses.ModeSeeking(images.narrow(0, 0, half), images.narrow(0, half, half),
                    latent.narrow(0, 0, half), latent.narrow(0, half, half)).mul(settings.Diversity));
            }
            if (settings.AdiScale > 0)
            {
                // The student's parameters collect gradients here too; the trainer zeroes them before its own step.
                loss = loss.add(Losses.Competition(student.ForwardLogits(seen), logits).mul(settings.AdiScale));
            }
            source.GeneratorStep(loss, epoch, studentStep);
            capture.Clear();
            // The student learns on the shifted images the teacher saw, with the logits it gave them (a shift is an
            // augmentation; the pair is exact, and the teacher need not run again).
            return new GameImages(seen, logits);
        }

        /// <summary>Removes the hooks from the teacher.</summary>
        public void Dispose() => capture.Dispose();
    }
}
