using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>dist</c>: the temperature and the weights of its two parts (the reference's 1, 1, 1).</summary>
public sealed record PearsonRelationSettings : TemperatureSettings
{
    /// <summary>Creates the defaults: T = 1 (the reference's ImageNet setting).</summary>
    public PearsonRelationSettings() => Temperature = 1.0;

    /// <summary>Weight of the inter-class part, per example across classes (beta).</summary>
    public double Beta { get; init; } = 1.0;

    /// <summary>Weight of the intra-class part, per class across the batch (gamma).</summary>
    public double Gamma { get; init; } = 1.0;

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        Require(double.IsFinite(Beta) && Beta >= 0, "beta", Beta, "finite and >= 0");
        Require(double.IsFinite(Gamma) && Gamma >= 0, "gamma", Gamma, "finite and >= 0");
    }
}

/// <summary>
/// DIST (Huang et al. 2022): the student's softened outputs correlate with the teacher's across classes and across
/// the batch (<see cref="Losses.PearsonRelations"/>), "dist".
/// </summary>
/// <param name="settings">Temperature, beta and gamma.</param>
public sealed class PearsonRelationTerm(PearsonRelationSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method dist = dist:1,ce:1 (the reference adds DIST to the cross-entropy).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<PearsonRelationSettings>("dist",
        "DIST: Pearson correlation of the softened outputs, across classes and across the batch (Huang et al. 2022).",
        s => new PearsonRelationTerm(s), new BuiltInMethod("dist", "dist:1,ce:1")
        {
            Grid = TuningGrid.Of("dist:1,ce:1", "dist:2,ce:1").Cross("dist.temperature", "1", "4"),
        });

    /// <inheritdoc/>
    public string Name => "dist";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.PearsonRelations(inputs.StudentLogits, inputs.RequireTeacher(Name), settings.Temperature, settings.Beta, settings.Gamma);
    }
}
