namespace GpuDistill.Methods;

/// <summary>The settings of <c>cross-modal</c> (recipe key <c>settings.cross-modal</c>, command line
/// <c>--set cross-modal.KEY=VALUE</c>).</summary>
public sealed record CrossModalSettings : MethodSettings
{
    /// <summary>The row names, in the order the results list them.</summary>
    public static IReadOnlyList<string> MethodNames { get; } = ["labels", "teacher-labels", "kd", "kd-features"];

    /// <summary>The second modality: <c>radon</c> (sinogram at <see cref="Angles"/> angles) or <c>profiles</c> (row
    /// and column intensity sums); see <see cref="RadonModality"/>.</summary>
    public string Modality { get; init; } = "radon";

    /// <summary>Projection angles of <c>radon</c>, evenly spread over [0, 180) degrees.</summary>
    public int Angles { get; init; } = 6;

    /// <summary>Sensor noise: standard deviation as a fraction of the full scale.</summary>
    public double Noise { get; init; } = 0.02;

    /// <summary>Seed of the sensor noise (the measurement is the same for every run seed).</summary>
    public int NoiseSeed { get; init; } = 2016;

    /// <summary>Which rows run: <c>labels</c> (the modality's own labels: the upper bound), <c>teacher-labels</c>
    /// (the image teacher's hard labels), <c>kd</c> (its soft labels) and <c>kd-features</c> (KD plus its mid-level
    /// features through a learned projection).</summary>
    public IReadOnlyList<string> Methods { get; init; } = MethodNames;

    /// <summary>Temperature of the KD rows.</summary>
    public double Temperature { get; init; } = 4.0;

    /// <summary>The teacher layer whose features the <c>kd-features</c> row transfers (mid-level: <c>stage2</c>).</summary>
    public string TeacherLayer { get; init; } = "stage2";

    /// <summary>Cells per side the teacher layer is average-pooled to before the projection is matched to it.</summary>
    public int FeatureCells { get; init; } = 2;

    /// <summary>Weight of the feature term in <c>kd-features</c>.</summary>
    public double FeatureWeight { get; init; } = 1.0;

    /// <inheritdoc/>
    public override void Validate()
    {
        Require(RadonModality.Names.Contains(Modality), "modality", Modality,
            $"one of {string.Join(", ", RadonModality.Names)}; modality '{Modality}' does not exist");
        Require(Angles is >= 1 and <= 180, "angles", Angles, "1 to 180");
        Require(double.IsFinite(Noise) && Noise is >= 0 and <= 1, "noise", Noise, "in [0, 1]");
        Require(Methods is { Count: > 0 } && Methods.All(MethodNames.Contains) && Methods.Distinct().Count() == Methods.Count, "methods",
            Methods is null ? null : string.Join(",", Methods), $"a non-empty list without repeats of {string.Join(", ", MethodNames)}");
        Require(double.IsFinite(Temperature) && Temperature > 0, "temperature", Temperature, "finite and > 0");
        Require(!string.IsNullOrWhiteSpace(TeacherLayer), "teacherLayer", TeacherLayer, "a layer path of the teacher");
        Require(FeatureCells is >= 1 and <= 7, "featureCells", FeatureCells, "1 to 7");
        Require(double.IsFinite(FeatureWeight) && FeatureWeight >= 0, "featureWeight", FeatureWeight, "finite and >= 0");
    }
}
