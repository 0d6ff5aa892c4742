using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>dkd</c> (mdistiller's defaults; the warm-up is in epochs).</summary>
public sealed record DecoupledKDSettings : TemperatureSettings
{
    /// <summary>Weight of the target-class part (TCKD).</summary>
    public double Alpha { get; init; } = 1.0;

    /// <summary>Weight of the non-target part (NCKD).</summary>
    public double Beta { get; init; } = 8.0;

    /// <summary>Epochs over which the term ramps up from 0 (mdistiller uses 20 of 240; scale it to the run).</summary>
    public int WarmupEpochs { get; init; } = 3;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(double.IsFinite(Alpha) && Alpha >= 0, "alpha", Alpha, "finite and >= 0");
        Require(double.IsFinite(Beta) && Beta >= 0, "beta", Beta, "finite and >= 0");
        Require(WarmupEpochs >= 0, "warmupEpochs", WarmupEpochs, ">= 0");
    }
}

/// <summary>
/// Decoupled KD (Zhao et al. 2022), the fused row kernel ("dkd"), with mdistiller's linear warm-up of the whole term
/// over the first <see cref="DecoupledKDSettings.WarmupEpochs"/> epochs.
/// </summary>
/// <param name="settings">Temperature, alpha, beta and the warm-up.</param>
public sealed class DecoupledKDTerm(DecoupledKDSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method dkd = dkd:1,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<DecoupledKDSettings>("dkd",
        "Decoupled KD: alpha TCKD + beta NCKD, target and non-target parts of KD apart (Zhao et al. 2022).",
        s => new DecoupledKDTerm(s), new BuiltInMethod("dkd", "dkd:1,ce:1")
        {
            Grid = TuningGrid.Of("dkd:1,ce:1").Cross("dkd.beta", "0.5", "2", "8"),
        });

    /// <inheritdoc/>
    public string Name => "dkd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        double warmup = settings.WarmupEpochs <= 0 ? 1.0 : Math.Min(1.0, (inputs.Epoch + 1) / (double)settings.WarmupEpochs);
        return Losses.DecoupledKD(inputs.StudentLogits, inputs.RequireTeacher(Name), inputs.Labels,
            settings.Temperature, settings.Alpha, settings.Beta, warmup);
    }
}
