using GpuDistill.Models;
using GpuDistill.Training;
using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>
/// The settings of <c>discriminator</c>. No reference code was found for Xu et al. 2018 (loss-spec-2 7.4): the
/// adversarial weight and the discriminator's optimiser (Adam 1e-3, betas (0.5, 0.999), the usual GAN setting) are
/// this port's choices, to be checked against the paper.
/// </summary>
public sealed record DiscriminatorSettings : MethodSettings
{
    /// <summary>The student's distillation loss beside the adversarial term.</summary>
    public string Loss { get; init; } = "kd:0.9,ce:0.1";

    /// <summary>Weight of the student's adversarial term -log D(z_s).</summary>
    public double AdversarialWeight { get; init; } = 0.1;

    /// <summary>The discriminator's Adam learning rate.</summary>
    public double DiscriminatorLearningRate { get; init; } = 1e-3;

    /// <summary>Width of the discriminator's two hidden layers.</summary>
    public int Hidden { get; init; } = 64;

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(!string.IsNullOrWhiteSpace(Loss), "loss", Loss, "a loss spec such as kd:0.9,ce:0.1");
        Require(double.IsFinite(AdversarialWeight) && AdversarialWeight >= 0, "adversarialWeight", AdversarialWeight, "finite and >= 0");
        Require(double.IsFinite(DiscriminatorLearningRate) && DiscriminatorLearningRate > 0, "discriminatorLearningRate", DiscriminatorLearningRate, "finite and > 0");
        Require(Hidden > 0, "hidden", Hidden, "> 0");
    }
}

/// <summary>
/// KD with a logit discriminator (Xu, Hsu and Huang 2018): a small MLP discriminator learns to tell the teacher's
/// logits ("real") from the student's ("fake") on the same real batch, one Adam step per student step; the student
/// learns the recipe's KD plus the non-saturating adversarial term -log D(z_s). The discriminator and its optimiser
/// are checkpointed with the student.
/// </summary>
/// <param name="settings">The loss, the adversarial weight and the discriminator.</param>
public sealed class DiscriminatorScheme(DiscriminatorSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<DiscriminatorSettings>("discriminator",
        "KD plus a logit discriminator that tells teacher from student logits; the student learns to fool it (Xu et al. 2018).",
        s => new DiscriminatorScheme(s));

    /// <inheritdoc/>
    public string Name => "discriminator";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        TrainingOptions options = context.Options(seed);
        using var discriminator = new LogitDiscriminator((seed * 31L) + 7, context.Train.ClassCount, settings.Hidden);
        using optim.Optimizer optimizer = optim.Adam(discriminator.parameters(), settings.DiscriminatorLearningRate, 0.5, 0.999);
        var source = new CheckpointedExtrasSource(Trainer.TrainingBatches(context.Train, options),
            [new TrainedModule("discriminator", discriminator, optimizer)]);
        WeightedLoss loss = new([.. LossSpec.Parse(settings.Loss).Create(context.Recipe.Settings).Terms,
            (new DiscriminatorTerm(discriminator, optimizer), settings.AdversarialWeight)]);
        using DistillModel model = ModelFactory.Create(student, seed);
        TrainingRun run = new Trainer(options, context.Progress, source).Fit($"{Name}/{student}/seed{seed}", model, loss,
            context.Train, context.Test, context.TeacherOutputs, context.ClaimDirectory(Name, student, seed, loss, scheme: Name, options: options), context.Resume,
            context.CancellationToken);
        return [new SchemeRow("", run, $"discriminator: {discriminator.Description}", context.Fidelity(model))];
    }

    /// <summary>The student's adversarial term; computing it first takes the discriminator's own step.</summary>
    /// <param name="discriminator">The discriminator.</param>
    /// <param name="optimizer">Its optimiser.</param>
    internal sealed class DiscriminatorTerm(LogitDiscriminator discriminator, optim.Optimizer optimizer) : ILossTerm
    {
        /// <inheritdoc/>
        public string Name => "discriminator";

        /// <inheritdoc/>
        public bool NeedsTeacher => true;

        /// <inheritdoc/>
        public Tensor Compute(TermInputs inputs)
        {
            ArgumentNullException.ThrowIfNull(inputs);
            Tensor teacher = inputs.RequireTeacher(Name);
            Tensor real = discriminator.call(teacher), fake = discriminator.call(inputs.StudentLogits.detach());
            Tensor discriminatorLoss = nn.functional.binary_cross_entropy_with_logits(real, ones_like(real))
                .add(nn.functional.binary_cross_entropy_with_logits(fake, zeros_like(fake)));
            optimizer.zero_grad();
            discriminatorLoss.backward();
            optimizer.step();
            // Non-saturating: the student raises D(z_s). Its gradient also reaches D's weights; the next zero_grad clears it.
            Tensor scores = discriminator.call(inputs.StudentLogits);
            return nn.functional.binary_cross_entropy_with_logits(scores, ones_like(scores));
        }
    }
}
