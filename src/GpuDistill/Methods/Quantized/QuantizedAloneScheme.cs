using GpuDistill.Models;
using GpuDistill.Quantization;
using GpuDistill.Training;

namespace GpuDistill.Methods;

/// <summary>The settings of <c>quant-alone</c>: the precision (see <see cref="QuantizedSchemeSettings"/>).</summary>
public sealed record QuantizedAloneSettings : QuantizedSchemeSettings;

/// <summary>
/// The quantized student alone: the student architecture with fake-quantized weights and activations (straight-
/// through estimator, loss-spec-2 8.1) trained from scratch with cross-entropy only. The baseline of the quantized
/// rows: what quantization costs before any teacher helps. One row per seed, named by its precision (e.g.
/// <c>quant-alone (w4a4)</c>), with its ONNX (QDQ) file size and latency next to the teacher's.
/// </summary>
/// <param name="settings">Bit widths, activation scaling, learning rate.</param>
public sealed class QuantizedAloneScheme(QuantizedAloneSettings settings) : IScheme
{
    /// <summary>The registry's description.</summary>
    public static SchemeInfo Info { get; } = SchemeInfo.Of<QuantizedAloneSettings>("quant-alone",
        "The quantized student alone: fake-quantized weights and activations (STE), cross-entropy only; the baseline of quantized KD.",
        s => new QuantizedAloneScheme(s));

    /// <inheritdoc/>
    public string Name => "quant-alone";

    /// <inheritdoc/>
    public IReadOnlyList<SchemeRow> Run(SchemeContext context, string student, int seed)
    {
        ArgumentNullException.ThrowIfNull(context);
        settings.Validate();
        using QuantizedModel model = QuantizedModel.Wrap(ModelFactory.Create(student, seed), settings.ToOptions());
        TrainingRun run = QuantizedRuns.Train(context, $"{Name}-{settings.Tag}", model, seed, LossSpec.ForMethod("none"), null,
            settings.LearningRateScale);
        return [QuantizedRuns.Row(context, Name, settings.Tag, student, seed, model, run)];
    }
}
