using GpuDistill.Rows;

namespace GpuDistill.JensenShannon;

/// <summary>Which divergence a JSD launch computes; beta's endpoints are exact KLs (loss-spec 1.3, edge cases).</summary>
public enum JensenShannonMode
{
    /// <summary>0 &lt; beta &lt; 1: beta KL(P || M) + (1 - beta) KL(Q || M) with M = beta P + (1 - beta) Q.</summary>
    Mixture,

    /// <summary>beta = 0: forward KL(P || Q) (the mixture formula would be identically 0).</summary>
    ForwardKL,

    /// <summary>beta = 1: reverse KL(Q || P) (the mixture formula would be identically 0).</summary>
    ReverseKL,
}

/// <summary>
/// Scalars of one fused generalised-JSD launch. The scales fold in T and the number of rows that count; log beta and
/// log(1 - beta) are taken in float64 on the host (the latter as a log1p), so a beta near 0 or 1 keeps exact logs.
/// </summary>
public readonly struct JensenShannonParameters : IRowLossParameters
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="beta">Mixture weight of the teacher, in [0, 1].</param>
    /// <param name="hasLabels">Whether a label view is given (labels only mark padding rows here).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    /// <exception cref="ArgumentOutOfRangeException">When beta is outside [0, 1].</exception>
    public JensenShannonParameters(int rows, int classes, float temperature, double beta, bool hasLabels,
        int ignoreIndex, int countedRows)
    {
        if (!(beta >= 0 && beta <= 1))
            throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be in [0, 1].");
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        float perRow = countedRows > 0 ? 1f / countedRows : 0f;
        LossScale = temperature * temperature * perRow;
        GradScale = temperature * perRow;
        Mode = beta == 0 ? JensenShannonMode.ForwardKL : beta == 1 ? JensenShannonMode.ReverseKL : JensenShannonMode.Mixture;
        Beta = (float)beta;
        OneMinusBeta = (float)(1 - beta);
        LogBeta = Mode == JensenShannonMode.Mixture ? (float)Math.Log(beta) : 0f;
        LogOneMinusBeta = Mode == JensenShannonMode.Mixture ? (float)LogOneMinus(beta) : 0f;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>T^2 / N: multiplies each row's divergence (T^2 like Hinton KD, so the family is comparable).</summary>
    public float LossScale { get; }

    /// <summary>T / N: the gradient's scale before the (1 - beta) of the mixture.</summary>
    public float GradScale { get; }

    /// <summary>Mixture, or one of the exact KL endpoints.</summary>
    public JensenShannonMode Mode { get; }

    /// <summary>beta.</summary>
    public float Beta { get; }

    /// <summary>1 - beta (taken in float64).</summary>
    public float OneMinusBeta { get; }

    /// <summary>log beta (mixture mode only).</summary>
    public float LogBeta { get; }

    /// <summary>log(1 - beta) (mixture mode only).</summary>
    public float LogOneMinusBeta { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <summary>Label that marks a padding row.</summary>
    public int IgnoreIndex { get; }

    /// <summary>log(1 - x), accurate also where 1 - x rounds to 1 (x below ~1e-16, where log(1 - x) = -x).</summary>
    private static double LogOneMinus(double x)
    {
        // Goldberg's correction: u = fl(1 - x), and log(u) * (-x) / (u - 1) cancels its rounding.
        double u = 1 - x;
        return u == 1 ? -x : Math.Log(u) * (-x / (u - 1));
    }
}
