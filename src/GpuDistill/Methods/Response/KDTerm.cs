using static TorchSharp.torch;

namespace GpuDistill.Methods;

/// <summary>Hinton KD (Hinton et al. 2015): T^2 KL(p_t || q_s), the fused row kernel ("kd").</summary>
/// <param name="settings">The temperature.</param>
public sealed class KDTerm(TemperatureSettings settings) : ILossTerm
{
    /// <summary>The registry's description: method kd = kd:0.9,ce:0.1 (RepDistiller's weights).</summary>
    public static TermInfo Info { get; } = TermInfo.Of<TemperatureSettings>("kd",
        "Hinton KD: T^2 KL(teacher || student) of the softened outputs (Hinton et al. 2015).",
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
        return Losses.SoftmaxKL(inputs.StudentLogits, inputs.RequireTeacher(Name), settings.Temperature);
    }
}
