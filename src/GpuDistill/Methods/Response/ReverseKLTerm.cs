using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>Reverse KL: T^2 KL(q_s || p_t), the fused row kernel ("reverse-kl").</summary>
/// <param name="settings">The temperature.</param>
public sealed class ReverseKLTerm(TemperatureSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method reverse-kl = reverse-kl:0.9,ce:0.1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<TemperatureSettings>("reverse-kl",
        "Reverse KL: T^2 KL(student || teacher), mode-seeking where KD is mass-covering.",
        s => new ReverseKLTerm(s), new BuiltInMethod("reverse-kl", "reverse-kl:0.9,ce:0.1")
        {
            Grid = TuningGrid.Of("reverse-kl:0.9,ce:0.1").Cross("reverse-kl.temperature", "1", "2", "4"),
        });

    /// <inheritdoc/>
    public string Name => "reverse-kl";

    /// <inheritdoc/>
    public bool NeedsTeacher => true;

    /// <inheritdoc/>
    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return Losses.ReverseKL(inputs.StudentLogits, inputs.RequireTeacher(Name), settings.Temperature);
    }
}
