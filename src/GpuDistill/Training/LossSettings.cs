namespace GpuDistill.Training;

/// <summary>
/// The knobs the response-loss terms share. Defaults follow the reference code: T = 4 (RepDistiller, mdistiller),
/// JSD beta = 0.5 (Liger), DKD alpha = 1, beta = 8 (mdistiller); the DKD warm-up is in epochs.
/// </summary>
public sealed record LossSettings
{
    /// <summary>Softmax temperature T of every softened term.</summary>
    public double Temperature { get; init; } = 4.0;

    /// <summary>JSD mixing weight beta in [0, 1].</summary>
    public double JsdBeta { get; init; } = 0.5;

    /// <summary>DKD weight of the target-class part.</summary>
    public double DkdAlpha { get; init; } = 1.0;

    /// <summary>DKD weight of the non-target part.</summary>
    public double DkdBeta { get; init; } = 8.0;

    /// <summary>Epochs over which DKD ramps up (mdistiller uses 20 of 240; scale it to the run).</summary>
    public int DkdWarmupEpochs { get; init; } = 3;

    /// <summary>Student layers (module paths) for feature terms; null for each term's default.</summary>
    public IReadOnlyList<string>? StudentLayers { get; init; }

    /// <summary>Teacher layers (module paths) for feature terms, paired with <see cref="StudentLayers"/> by position;
    /// null for each term's default.</summary>
    public IReadOnlyList<string>? TeacherLayers { get; init; }

    /// <summary>Exponent p of attention maps (sum over channels of |f|^p).</summary>
    public double AttentionP { get; init; } = 2.0;

    /// <summary>How <c>multi-kd</c> weighs its teachers: <c>confidence</c> (each teacher's probability of the true
    /// label, per example) or <c>equal</c>.</summary>
    public string TeacherWeighting { get; init; } = "confidence";
}
