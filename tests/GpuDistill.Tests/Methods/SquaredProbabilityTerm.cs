using GpuDistill.Methods;
using static TorchSharp.torch;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// The made-up row loss as a training term (its method file): name, typed settings with defaults, help line, the
/// built-in method it stands for, and how it computes. Registering <see cref="Info"/> is its one registry line.
/// </summary>
/// <param name="settings">The temperature.</param>
public sealed class SquaredProbabilityTerm(TemperatureSettings settings) : ILossTerm
{
    /// <summary>The term's description: method test-sqp = test-sqp:1,ce:1.</summary>
    public static TermInfo Info { get; } = TermInfo.Of<TemperatureSettings>("test-sqp",
        "Squared error between the softened distributions (a made-up row loss of the test suite).",
        s => new SquaredProbabilityTerm(s), new BuiltInMethod("test-sqp", "test-sqp:1,ce:1"));

    public string Name => "test-sqp";

    public bool NeedsTeacher => true;

    public Tensor Compute(TermInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        return GpuDistill.Losses.RowLoss(inputs.StudentLogits, inputs.RequireTeacher(Name),
            batch => new SquaredProbabilityRow(batch, settings.Temperature));
    }
}
