using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>jsd</c>: the temperature and the mixture weight beta (Liger's default 0.5).</summary>
public sealed record JensenShannonSettings : TemperatureSettings
{
    /// <summary>Mixture weight beta in [0, 1]; 0 and 1 are the two KLs.</summary>
    public double Beta { get; init; } = 0.5;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(Beta is >= 0 and <= 1, "beta", Beta, "in [0, 1]");
    }
}

/// <summary>Generalised Jensen-Shannon divergence with mixture weight beta, the fused row kernel ("jsd").</summary>
/// <param name="settings">Temperature and beta.</param>
public sealed class JensenShannonTerm(JensenShannonSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method jsd = jsd:0.9,ce:0.1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<JensenShannonSettings>("jsd",
        "Generalised Jensen-Shannon divergence between the softened outputs, mixture weight beta.",
        s => new JensenShannonTerm(s), new BuiltInMethod("jsd", "jsd:0.9,ce:0.1")
        {
            Grid = TuningGrid.Of("jsd:0.9,ce:0.1", "jsd:0.5,ce:0.5").Cross("jsd.temperature", "1", "4"),
        });

    /// <inheritdoc/>
    public string Name => "jsd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.JensenShannon(inputs.StudentLogits, inputs.RequireTeacher(Name), settings.Temperature, settings.Beta);
    }
}
