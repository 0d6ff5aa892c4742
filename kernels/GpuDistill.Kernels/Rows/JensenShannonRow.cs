using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

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
/// The fused generalised Jensen-Shannon divergence, T^2 JSD_beta(P, Q) averaged over the counted rows (loss-spec
/// 1.3); labels only mark padding rows. The scales fold in T and the number of rows that count; log beta and
/// log(1 - beta) are taken in float64 on the host (the latter as a log1p), so a beta near 0 or 1 keeps exact logs.
/// </summary>
public readonly struct JensenShannonRow : IRowLoss
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
    public JensenShannonRow(int rows, int classes, float temperature, double beta, bool hasLabels,
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

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <summary>The row-per-group kernel hung on an H200 (cause not found; see README, GPU bundle): GPUs take a
    /// thread per row.</summary>
    public static bool GroupLayoutOnGpus => false;

    /// <inheritdoc/>
    /// <remarks>
    /// For 0 &lt; beta &lt; 1, three reads of the row: the log-normalisers of q and p; JSD_i and the sum behind
    /// KL(Q || M)_i; the gradient (1 - beta) (T/N) q (log q - log m - KL(Q || M)_i), which with s = softplus(-d) is
    /// (1 - beta) (T/N) q (E_q[s] - s), taken relative to s at the student argmax so that it stays accurate where q is
    /// peaked. At beta = 0 and beta = 1 the row is handed to the exact forward-KL (<see cref="SoftmaxKLRow"/>) and
    /// reverse-KL (<see cref="ReverseKLRow"/>) row functions.
    /// </remarks>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine
    {
        if (Mode == JensenShannonMode.ForwardKL)
            return SoftmaxKLRow.Compute<TCombine>(row, -1, InverseTemperature, LossScale, GradScale, 0f);
        if (Mode == JensenShannonMode.ReverseKL)
            return ReverseKLRow.Compute<TCombine>(row, InverseTemperature, LossScale, GradScale);
        return Mixture<TCombine>(row);
    }

    private float Mixture<TCombine>(in RowSlice row) where TCombine : struct, IRowCombine
    {
        ArrayView<float> student = row.Student, teacher = row.Teacher, gradient = row.Gradient;
        long offset = row.Offset;
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(student, teacher, offset, row.Start, row.Stride, Classes,
            InverseTemperature);
        var mixture = new JensenShannonMixture(LogBeta, LogOneMinusBeta);
        mixture.Softplus(logs.ArgmaxLogQ, logs.ArgmaxLogP, out _, out float argmaxSoftplus);
        var terms = new JensenShannonTerms(student, teacher, logs, mixture, Beta, OneMinusBeta, argmaxSoftplus);
        SumPair sums = RowSweep.Accumulate<SumPair, JensenShannonTerms>(terms, offset, row.Start, row.Stride, Classes);
        sums.Combine<TCombine>();
        float meanAboveArgmax = sums.Second; // E_q[s] - s*

        // dL/dz_s = (1 - beta) (T/N) q (log q - log m - KL(Q || M)): the loss-spec 1.3 gradient times T^2, with
        // log q - log m - KL(Q || M) = E_q[s] - s = (E_q[s] - s*) - (s - s*).
        float scale = GradScale * OneMinusBeta;
        for (int c = row.Start; c < Classes; c += row.Stride)
        {
            float logQ = logs.LogQ(student[offset + c]);
            mixture.Softplus(logQ, logs.LogP(teacher[offset + c]), out _, out float ofMinusD);
            gradient[offset + c] = scale * XMath.Exp(logQ) * (meanAboveArgmax - (ofMinusD - argmaxSoftplus));
        }
        return LossScale * sums.First;
    }

    /// <summary>log(1 - x), accurate also where 1 - x rounds to 1 (x below ~1e-16, where log(1 - x) = -x).</summary>
    private static double LogOneMinus(double x)
    {
        // Goldberg's correction: u = fl(1 - x), and log(u) * (-x) / (u - 1) cancels its rounding.
        double u = 1 - x;
        return u == 1 ? -x : Math.Log(u) * (-x / (u - 1));
    }
}

/// <summary>
/// log p - log m and log q - log m for M = beta P + (1 - beta) Q, in log space. With
/// d = log q - log p + log((1 - beta) / beta), log m = logaddexp(log p + log beta, log q + log(1 - beta)) =
/// log beta + log p + softplus(d), so log p - log m = -log beta - softplus(d) and
/// log q - log m = -log(1 - beta) - softplus(-d): no mixture of exps is ever formed.
/// </summary>
/// <param name="logBeta">log beta.</param>
/// <param name="logOneMinusBeta">log(1 - beta).</param>
internal readonly struct JensenShannonMixture(float logBeta, float logOneMinusBeta)
{
    private readonly float logBeta = logBeta;
    private readonly float logOneMinusBeta = logOneMinusBeta;

    /// <summary>softplus(d) and softplus(-d) of one column.</summary>
    /// <param name="logQ">log q.</param>
    /// <param name="logP">log p.</param>
    /// <param name="ofD">softplus(d): log p - log m = -log beta - softplus(d).</param>
    /// <param name="ofMinusD">softplus(-d): log q - log m = -log(1 - beta) - softplus(-d).</param>
    public void Softplus(float logQ, float logP, out float ofD, out float ofMinusD) =>
        LogSpace.Softplus(logQ - logP + (logOneMinusBeta - logBeta), out ofD, out ofMinusD);

    /// <summary>log p - log m of a column from its softplus(d).</summary>
    /// <param name="ofD">softplus(d).</param>
    /// <returns>log p - log m.</returns>
    public float TeacherRatio(float ofD) => -logBeta - ofD;

    /// <summary>log q - log m of a column from its softplus(-d).</summary>
    /// <param name="ofMinusD">softplus(-d).</param>
    /// <returns>log q - log m.</returns>
    public float StudentRatio(float ofMinusD) => -logOneMinusBeta - ofMinusD;
}

/// <summary>
/// The column terms of the JSD sums. First = beta p (log p - log m) + (1 - beta) q (log q - log m), a column's share
/// of JSD (each is &gt;= 0 by convexity of x log x, so the row sum has no cancellation between columns). Second =
/// q (softplus(-d) - s*), s* = softplus(-d) at the student argmax: since sum q = 1, KL(Q || M) = -log(1 - beta) - s*
/// minus this sum, and the gradient needs only the sum (see <see cref="LogSoftmaxPair"/>).
/// </summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="logs">The row's log-softmax of student and teacher.</param>
/// <param name="mixture">The log-ratios to M.</param>
/// <param name="beta">beta.</param>
/// <param name="oneMinusBeta">1 - beta.</param>
/// <param name="argmaxSoftplus">s*.</param>
internal readonly struct JensenShannonTerms(ArrayView<float> student, ArrayView<float> teacher, LogSoftmaxPair logs,
    JensenShannonMixture mixture, float beta, float oneMinusBeta, float argmaxSoftplus) : IRowTerms<SumPair>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly LogSoftmaxPair logs = logs;
    private readonly JensenShannonMixture mixture = mixture;
    private readonly float beta = beta;
    private readonly float oneMinusBeta = oneMinusBeta;
    private readonly float argmaxSoftplus = argmaxSoftplus;

    /// <inheritdoc/>
    public SumPair Empty => default;

    /// <inheritdoc/>
    public void Add(ref SumPair sums, long index, int column)
    {
        float logQ = logs.LogQ(student[index]);
        float logP = logs.LogP(teacher[index]);
        mixture.Softplus(logQ, logP, out float ofD, out float ofMinusD);
        float q = XMath.Exp(logQ);
        sums.First += beta * XMath.Exp(logP) * mixture.TeacherRatio(ofD) + oneMinusBeta * q * mixture.StudentRatio(ofMinusD);
        sums.Second += q * (ofMinusD - argmaxSoftplus);
    }

    /// <inheritdoc/>
    public void Merge(ref SumPair total, in SumPair part) => total.Merge(part);
}
