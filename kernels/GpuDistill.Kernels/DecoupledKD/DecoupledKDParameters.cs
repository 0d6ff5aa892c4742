using GpuDistill.Rows;

namespace GpuDistill.DecoupledKD;

/// <summary>
/// Scalars of one fused DKD launch. The scales fold in the warm-up weight, alpha or beta, T and the number of rows
/// that count, so the kernel only multiplies. DKD always has labels (the target class of each row).
/// </summary>
public readonly struct DecoupledKDParameters : IRowLossParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="alpha">Weight of the target-class term TCKD.</param>
    /// <param name="beta">Weight of the non-target term NCKD.</param>
    /// <param name="warmupWeight">w, the warm-up factor (min(epoch / warmup, 1) in mdistiller).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/>.</param>
    public DecoupledKDParameters(int rows, int classes, float temperature, float alpha, float beta, float warmupWeight,
        int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        TargetLossScale = warmupWeight * alpha * temperature * temperature * perRow;
        NonTargetLossScale = warmupWeight * beta * temperature * temperature * perRow;
        TargetGradScale = warmupWeight * alpha * temperature * perRow;
        NonTargetGradScale = warmupWeight * beta * temperature * perRow;
        IgnoreIndex = ignoreIndex;
    }

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>w alpha T^2 / N: multiplies each row's TCKD.</summary>
    public float TargetLossScale { get; }

    /// <summary>w beta T^2 / N: multiplies each row's NCKD.</summary>
    public float NonTargetLossScale { get; }

    /// <summary>w alpha T / N: the target-class part of the gradient.</summary>
    public float TargetGradScale { get; }

    /// <summary>w beta T / N: the non-target part of the gradient.</summary>
    public float NonTargetGradScale { get; }

    /// <summary>Always 1: DKD needs the target class of every row.</summary>
    public int HasLabels => 1;

    /// <summary>Label that marks a padding row.</summary>
    public int IgnoreIndex { get; }
}
