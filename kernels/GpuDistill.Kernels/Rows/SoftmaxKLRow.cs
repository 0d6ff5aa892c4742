using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The fused softened-softmax KL (Hinton KD, loss-spec 1.1) with an optional hard-label cross-entropy: w_soft T^2
/// KL(p_t || q_s) + w_hard CE(z_s, y), averaged over the counted rows. Two reads of each row (log-normalisers, then
/// gradient and divergence). The scales fold in the weights, T and the number of rows that count, so the kernel only multiplies.
/// </summary>
public readonly struct SoftmaxKLRow : IRowLoss
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
    public SoftmaxKLRow(int rows, int classes, float temperature, float softWeight, float hardWeight,
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

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>w_soft * T^2 / N: multiplies each row's KL.</summary>
    public float SoftLossScale { get; }

    /// <summary>w_soft * T / N: multiplies (q - p) in the gradient.</summary>
    public float SoftGradScale { get; }

    /// <summary>w_hard / N, or 0 when there is no hard term.</summary>
    public float HardScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine =>
        Compute<TCombine>(row, label, InverseTemperature, SoftLossScale, SoftGradScale, HardScale);

    /// <summary>
    /// Loss and gradient of one counted row: lossScale KL(p || q) + hardScale CE, gradient gradScale (q - p) +
    /// hardScale (softmax(z_s) - onehot). Two reads of the row. Also the beta = 0 endpoint of the JSD kernel.
    /// The divergence is summed in the gradient's read, as p (log p - log q) + (q - p) per column, not from the
    /// closed form lse(u_s) - lse(u_t) + E_p[u_t - u_s]: that one cancels to ~1e-3 of itself where teacher and
    /// student barely differ, and kept the float32 error of the log-sum-exps (up to 2e-3 of the loss at T = 20).
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="row">The row and this thread's slice.</param>
    /// <param name="label">The row's label (used only when <paramref name="hardScale"/> is not 0).</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="lossScale">Multiplies KL (w T^2 / N).</param>
    /// <param name="gradScale">Multiplies q - p (w T / N).</param>
    /// <param name="hardScale">Multiplies the cross-entropy and its gradient (w_hard / N); 0 for none.</param>
    /// <returns>The row's share of the batch loss.</returns>
    public static float Compute<TCombine>(in RowSlice row, int label, float inverseTemperature, float lossScale,
        float gradScale, float hardScale) where TCombine : struct, IRowCombine
    {
        long offset = row.Offset;
        bool withHard = hardScale != 0f;
        var terms = new SoftmaxKLTerms(row.Student, row.Teacher, inverseTemperature, withHard);
        SoftmaxKLSums s = RowSweep.Accumulate<SoftmaxKLSums, SoftmaxKLTerms>(terms, offset, row.Start, row.Stride, row.Classes);
        s.Soft.Combine<TCombine>(inverseTemperature);
        if (withHard) s.Hard.Combine<TCombine>(1f);

        // The second read writes the gradient and sums KL(p || q) column by column (LogSpace.DivergenceTerm).
        var gradientTerms = new SoftmaxKLGradientTerms(row, s, label, inverseTemperature, gradScale, hardScale);
        float divergence = default(TCombine).Sum(
            RowSweep.Accumulate<float, SoftmaxKLGradientTerms>(gradientTerms, offset, row.Start, row.Stride, row.Classes));
        float loss = lossScale * divergence;
        if (withHard)
            loss += hardScale * (s.Hard.LogSum - (row.Student[offset + label] - s.Hard.Max));
        return loss;
    }
}

/// <summary>
/// One-pass statistics of one row of the fused softened-softmax KL: the log-normalisers of teacher and student at
/// temperature T (loss-spec 1.1 fusion note) and, for the hard term, the log-sum-exp of the student at T = 1.
/// </summary>
internal struct SoftmaxKLSums
{
    /// <summary>Teacher (reference) and student (other) statistics at T.</summary>
    public KLSums Soft;

    /// <summary>Online log-sum-exp of z_s at T = 1 (cross-entropy).</summary>
    public SoftmaxSums Hard;
}

/// <summary>The column terms of the statistics pass.</summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="inverseTemperature">1/T.</param>
/// <param name="withHard">Whether to gather the T = 1 statistics for cross-entropy.</param>
internal readonly struct SoftmaxKLTerms(ArrayView<float> student, ArrayView<float> teacher, float inverseTemperature,
    bool withHard) : IRowTerms<SoftmaxKLSums>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly float inverseTemperature = inverseTemperature;
    private readonly bool withHard = withHard;

    /// <inheritdoc/>
    public SoftmaxKLSums Empty => new() { Soft = KLSums.Empty, Hard = SoftmaxSums.Empty };

    /// <inheritdoc/>
    public void Add(ref SoftmaxKLSums sums, long index, int column)
    {
        float zs = student[index];
        sums.Soft.Add(teacher[index], zs, inverseTemperature);
        if (withHard) sums.Hard.Add(zs, 1f);
    }

    /// <inheritdoc/>
    public void Merge(ref SoftmaxKLSums total, in SoftmaxKLSums part)
    {
        total.Soft.Merge(part.Soft, inverseTemperature);
        total.Hard.Merge(part.Hard, 1f);
    }
}

/// <summary>
/// The column terms of the second read: writes gradScale (q - p) + hardScale (softmax(z_s) - onehot) and sums
/// KL(p || q) as <see cref="LogSpace.DivergenceTerm(float, float, float, float)"/>.
/// </summary>
internal readonly struct SoftmaxKLGradientTerms : IRowTerms<float>
{
    private readonly ArrayView<float> student;
    private readonly ArrayView<float> teacher;
    private readonly ArrayView<float> gradient;
    private readonly SoftmaxSums studentSums;
    private readonly SoftmaxSums teacherSums;
    private readonly SoftmaxSums hardSums;
    private readonly float logSumS;
    private readonly float logSumT;
    private readonly float logSumHard;
    private readonly int label;
    private readonly float inverseTemperature;
    private readonly float gradScale;
    private readonly float hardScale;

    /// <summary>Creates the terms from the row's complete statistics.</summary>
    /// <param name="row">The row and this thread's slice.</param>
    /// <param name="sums">The row's combined statistics.</param>
    /// <param name="label">The row's label (used only with a hard term).</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <param name="gradScale">Multiplies q - p.</param>
    /// <param name="hardScale">Multiplies the cross-entropy gradient; 0 for none.</param>
    public SoftmaxKLGradientTerms(in RowSlice row, in SoftmaxKLSums sums, int label, float inverseTemperature,
        float gradScale, float hardScale)
    {
        student = row.Student;
        teacher = row.Teacher;
        gradient = row.Gradient;
        studentSums = sums.Soft.Other;
        teacherSums = sums.Soft.Reference;
        hardSums = sums.Hard;
        logSumS = studentSums.LogSum;
        logSumT = teacherSums.LogSum;
        logSumHard = hardScale != 0f ? hardSums.LogSum : 0f;
        this.label = label;
        this.inverseTemperature = inverseTemperature;
        this.gradScale = gradScale;
        this.hardScale = hardScale;
    }

    /// <inheritdoc/>
    public float Empty => 0f;

    /// <inheritdoc/>
    public void Add(ref float sums, long index, int column)
    {
        float zs = student[index];
        float logQ = studentSums.LogProbability(zs, inverseTemperature, logSumS);
        float logP = teacherSums.LogProbability(teacher[index], inverseTemperature, logSumT);
        float q = XMath.Exp(logQ);
        float p = XMath.Exp(logP);
        float g = gradScale * (q - p);
        if (hardScale != 0f)
            g += hardScale * (XMath.Exp(hardSums.LogProbability(zs, 1f, logSumHard)) - (column == label ? 1f : 0f));
        gradient[index] = g;
        sums += LogSpace.DivergenceTerm(p, logP, q, logQ);
    }

    /// <inheritdoc/>
    public void Merge(ref float total, in float part) => total += part;
}
