using static TorchSharp.torch;

namespace GpuDistill.Training.Terms;

/// <summary>Hinton KD: T^2 KL(p_t || q_s), the fused kernel ("kd").</summary>
/// <param name="Temperature">T.</param>
public sealed record KDTerm(double Temperature) : ILossTerm
{
    /// <inheritdoc/>
    public string Name => "kd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.SoftmaxKL(inputs.StudentLogits, inputs.RequireTeacher(Name), Temperature);
    }
}

/// <summary>Reverse KL: T^2 KL(q_s || p_t), the fused kernel ("reverse-kl").</summary>
/// <param name="Temperature">T.</param>
public sealed record ReverseKLTerm(double Temperature) : ILossTerm
{
    /// <inheritdoc/>
    public string Name => "reverse-kl";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.ReverseKL(inputs.StudentLogits, inputs.RequireTeacher(Name), Temperature);
    }
}

/// <summary>Generalised Jensen-Shannon divergence with mixing weight beta, the fused kernel ("jsd").</summary>
/// <param name="Temperature">T.</param>
/// <param name="Beta">Mixing weight in [0, 1]; 0 and 1 are the two KLs.</param>
public sealed record JensenShannonTerm(double Temperature, double Beta) : ILossTerm
{
    /// <inheritdoc/>
    public string Name => "jsd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.JensenShannon(inputs.StudentLogits, inputs.RequireTeacher(Name), Temperature, Beta);
    }
}

/// <summary>
/// Decoupled KD (Zhao et al. 2022), the fused kernel ("dkd"), with mdistiller's linear warm-up of the whole term
/// over the first <paramref name="WarmupEpochs"/> epochs.
/// </summary>
/// <param name="Temperature">T.</param>
/// <param name="Alpha">Weight of the target-class part (TCKD).</param>
/// <param name="Beta">Weight of the non-target part (NCKD).</param>
/// <param name="WarmupEpochs">Epochs over which the term ramps up from 0.</param>
public sealed record DecoupledKDTerm(double Temperature, double Alpha, double Beta, int WarmupEpochs) : ILossTerm
{
    /// <inheritdoc/>
    public string Name => "dkd";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        double warmup = WarmupEpochs <= 0 ? 1.0 : Math.Min(1.0, (inputs.Epoch + 1) / (double)WarmupEpochs);
        return Losses.DecoupledKD(inputs.StudentLogits, inputs.RequireTeacher(Name), inputs.Labels,
            Temperature, Alpha, Beta, warmup);
    }
}
