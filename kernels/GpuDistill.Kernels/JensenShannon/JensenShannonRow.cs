using GpuDistill.ReverseKL;
using GpuDistill.Rows;
using GpuDistill.SoftmaxKL;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.JensenShannon;

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

/// <summary>
/// Device functions for one row of the fused generalised JSD (loss-spec 1.3), scaled by T^2 like Hinton KD.
/// Both kernel layouts call them (see <see cref="SoftmaxKLRow"/> for the start/stride/combine convention).
/// </summary>
/// <remarks>
/// For 0 &lt; beta &lt; 1, three reads of the row: the log-normalisers of q and p; JSD_i and the sum behind KL(Q || M)_i;
/// the gradient (1 - beta) (T/N) q (log q - log m - KL(Q || M)_i), which with s = softplus(-d) is
/// (1 - beta) (T/N) q (E_q[s] - s), taken relative to s at the student argmax so that it stays accurate where q is
/// peaked. At beta = 0 and beta = 1 the row is handed to the exact
/// forward-KL (<see cref="SoftmaxKLRow"/>) and reverse-KL (<see cref="ReverseKLRow"/>) row functions.
/// </remarks>
internal static class JensenShannonRow
{
    /// <summary>Handles one row: label check, loss (written by the slice that starts at column 0), gradient.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="labels">Labels, [B] (unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void Run<TCombine>(int row, int start, int stride, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, in JensenShannonParameters p)
        where TCombine : struct, IRowCombine
    {
        long offset = (long)row * p.Classes;
        int status = RowLabels.Status(p.HasLabels != 0 ? labels[row] : -1, p.HasLabels, p.IgnoreIndex, p.Classes);
        if (status != RowLabels.Counted)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, p.Classes);
            if (start == 0) rowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }

        float loss;
        if (p.Mode == JensenShannonMode.ForwardKL)
        {
            loss = SoftmaxKLRow.Process<TCombine>(student, teacher, gradient, offset, start, stride, p.Classes, -1,
                p.InverseTemperature, p.LossScale, p.GradScale, 0f);
        }
        else if (p.Mode == JensenShannonMode.ReverseKL)
        {
            loss = ReverseKLRow.Process<TCombine>(student, teacher, gradient, offset, start, stride, p.Classes,
                p.InverseTemperature, p.LossScale, p.GradScale);
        }
        else
        {
            loss = Mixture<TCombine>(student, teacher, gradient, offset, start, stride, p);
        }
        if (start == 0) rowLoss[row] = loss;
    }

    private static float Mixture<TCombine>(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
        long offset, int start, int stride, in JensenShannonParameters p) where TCombine : struct, IRowCombine
    {
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(student, teacher, offset, start, stride, p.Classes,
            p.InverseTemperature);
        var mixture = new JensenShannonMixture(p.LogBeta, p.LogOneMinusBeta);
        mixture.Softplus(logs.ArgmaxLogQ, logs.ArgmaxLogP, out _, out float argmaxSoftplus);
        var terms = new JensenShannonTerms(student, teacher, logs, mixture, p.Beta, p.OneMinusBeta, argmaxSoftplus);
        SumPair sums = RowSweep.Accumulate<SumPair, JensenShannonTerms>(terms, offset, start, stride, p.Classes);
        sums.Combine<TCombine>();
        float meanAboveArgmax = sums.Second; // E_q[s] - s*

        // dL/dz_s = (1 - beta) (T/N) q (log q - log m - KL(Q || M)): the loss-spec 1.3 gradient times T^2, with
        // log q - log m - KL(Q || M) = E_q[s] - s = (E_q[s] - s*) - (s - s*).
        float scale = p.GradScale * p.OneMinusBeta;
        for (int c = start; c < p.Classes; c += stride)
        {
            float logQ = logs.LogQ(student[offset + c]);
            mixture.Softplus(logQ, logs.LogP(teacher[offset + c]), out _, out float ofMinusD);
            gradient[offset + c] = scale * XMath.Exp(logQ) * (meanAboveArgmax - (ofMinusD - argmaxSoftplus));
        }
        return p.LossScale * sums.First;
    }
}
