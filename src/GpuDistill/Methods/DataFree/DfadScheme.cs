using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>dfad</c>: DFAD's CIFAR defaults (its argparse, loss-spec-2 7.3).</summary>
public sealed record DfadSettings : GeneratorSettings
{
    /// <summary>DFAD's defaults: batch 256, nz 256, generator Adam 1e-3, 50 iterations of 5 student steps per epoch
    /// (250 student steps, DFAD's 5 per generator step), the generator ending in an affine-free batch norm.</summary>
    public DfadSettings()
    {
        BatchSize = 256;
        LatentSize = 256;
        GeneratorLearningRate = 1e-3;
        StepsPerEpoch = 250;
        BatchNormalizedOutput = true;
        StudentStepsPerGeneratorStep = 5;
    }

    /// <summary>The divergence: <c>l1</c> (DFAD), <c>kl</c> (ZSKT's, without its attention term) or
    /// <c>probability-l1</c>.</summary>
    public string Divergence { get; init; } = "l1";

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(GeneratorDivergence.Names.Contains(Divergence), "divergence", Divergence, $"one of {string.Join(", ", GeneratorDivergence.Names)}");
    }
}

/// <summary>
/// DFAD, data-free adversarial distillation (Fang et al. 2019; ZSKT, Micaelli and Storkey 2019, with
/// <c>divergence: kl</c>): the generator maximises the teacher-student divergence on its images, through both the
/// frozen teacher and the student; the student minimises it on fresh generated batches. One generator step before
/// every <see cref="GeneratorSettings.StudentStepsPerGeneratorStep"/> student steps. No training image is read.
/// </summary>
/// <param name="settings">The divergence, the schedule and the generator settings.</param>
public sealed class DfadScheme(DfadSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<DfadSettings>("dfad",
        "DFAD, data-free adversarial: a generator maximises the teacher-student divergence, the student minimises it (Fang et al. 2019; ZSKT).",
        s => new DfadScheme(s));

    /// <inheritdoc/>
    public string Name => "dfad";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        var loss = new WeightedLoss([(GeneratorDivergence.Term(settings.Divergence), 1.0)]);
        return DataFreeTraining.RunScheme(context, Name, student, seed, settings, 0, model => new DivergenceGame(settings.Divergence, model), loss);
    }
}
