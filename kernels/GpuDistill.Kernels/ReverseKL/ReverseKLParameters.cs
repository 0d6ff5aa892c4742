using GpuDistill.Rows;

namespace GpuDistill.ReverseKL;

/// <summary>
/// Scalars of one fused reverse-KL launch. The scales already fold in T and the number of rows that count, so the
/// kernel only multiplies.
/// </summary>
public readonly struct ReverseKLParameters : IRowLossParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="hasLabels">Whether a label view is given (labels only mark padding rows here).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public ReverseKLParameters(int rows, int classes, float temperature, bool hasLabels, int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        LossScale = temperature * temperature * perRow;
        GradScale = temperature * perRow;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>T^2 / N: multiplies each row's KL(q || p).</summary>
    public float LossScale { get; }

    /// <summary>T / N: multiplies q (r - KL) in the gradient.</summary>
    public float GradScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <summary>Label that marks a padding row.</summary>
    public int IgnoreIndex { get; }
}
