using GpuDistill.Rows;

namespace GpuDistill.SoftmaxKL;

/// <summary>
/// Scalars of one fused softened-softmax KL launch. The scales already fold in the weights, T and the number of
/// rows that count, so the kernel only multiplies.
/// </summary>
public readonly struct SoftmaxKLParameters : IRowLossParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="softWeight">Weight of the KL term.</param>
    /// <param name="hardWeight">Weight of the cross-entropy term (ignored without labels).</param>
    /// <param name="hasLabels">Whether a label view is given.</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public SoftmaxKLParameters(int rows, int classes, float temperature, float softWeight, float hardWeight,
        bool hasLabels, int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        SoftLossScale = softWeight * temperature * temperature * perRow;
        SoftGradScale = softWeight * temperature * perRow;
        HardScale = hasLabels ? hardWeight * perRow : 0f;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>B.</summary>
    public int Rows { get; }

    /// <summary>C.</summary>
    public int Classes { get; }

    /// <summary>1/T.</summary>
    public float InverseTemperature { get; }

    /// <summary>w_soft * T^2 / N: multiplies each row's KL.</summary>
    public float SoftLossScale { get; }

    /// <summary>w_soft * T / N: multiplies (q - p) in the gradient.</summary>
    public float SoftGradScale { get; }

    /// <summary>w_hard / N, or 0 when there is no hard term.</summary>
    public float HardScale { get; }

    /// <summary>1 when labels are given (an int, since kernels take plain fields).</summary>
    public int HasLabels { get; }

    /// <summary>Label that marks a padding row.</summary>
    public int IgnoreIndex { get; }
}
