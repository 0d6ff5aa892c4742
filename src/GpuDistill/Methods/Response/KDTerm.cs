using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>kd</c>: the temperature, and whether the logits are standardised first.</summary>
public sealed record KDSettings : TemperatureSettings
{
    /// <summary>
    /// Z-score each row of both models' logits before softening (Sun et al. 2024; <see cref="Losses.StandardizeLogits"/>);
    /// the temperature is then their base temperature (2 in their CIFAR-100 runs, with the KD weight raised to 9).
    /// Off by default: plain Hinton KD.
    /// </summary>
    public bool StandardizeLogits { get; init; }
}

/// <summary>
/// Hinton KD (Hinton et al. 2015): T^2 KL(p_t || q_s), the fused row kernel ("kd"); with
/// <see cref="KDSettings.StandardizeLogits"/>, on z-scored logits (logit standardisation, Sun et al. 2024).
/// </summary>
/// <param name="settings">The temperature and the standardisation.</param>
public sealed class KDTerm(KDSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method kd = kd:0.9,ce:0.1 (RepDistiller's weights).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<KDSettings>("kd",
        "Hinton KD: T^2 KL(teacher || student) of the softened outputs (Hinton et al. 2015); kd.standardizeLogits z-scores both first (Sun et al. 2024).",
        s => new KDTerm(s), new BuiltInMethod("kd", "kd:0.9,ce:0.1")
        {
            Grid = TuningGrid.Of("kd:0.9,ce:0.1", "kd:0.5,ce:0.5").Cross("kd.temperature", "2", "4", "8"),
        });

    /// <inheritdoc/>
    public string Name => "kd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Tensor student = inputs.StudentLogits, teacher = inputs.RequireTeacher(Name);
        if (!settings.StandardizeLogits) return Losses.SoftmaxKL(student, teacher, settings.Temperature);
        using var scope = NewDisposeScope();
        Tensor loss = Losses.SoftmaxKL(Losses.StandardizeLogits(student, "student"),
            Losses.StandardizeLogits(teacher.detach(), "teacher"), settings.Temperature);
        return loss.MoveToOuterDisposeScope();
    }
}
