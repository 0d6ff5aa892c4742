using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.MultiTeacher;

/// <summary>
/// How the threads that share one row of the multi-teacher kernel combine their results, and wait for each other
/// once the row's per-teacher statistics are in the scratch view.
/// </summary>
internal interface ITeacherRowShare : IRowCombine
{
    /// <summary>Makes every write before it visible to every thread of the row (every thread must call).</summary>
    void Sync();
}

/// <summary>One thread owns the row: nothing to combine, nothing to wait for.</summary>
internal readonly struct ThreadOwnsTeacherRow : ITeacherRowShare
{
    /// <inheritdoc/>
    public float Sum(float value) => value;

    /// <inheritdoc/>
    public float Max(float value) => value;

    /// <inheritdoc/>
    public void Sync()
    {
    }
}

/// <summary>A group shares the row: results are all-reduced over the group, and Sync is a group barrier.</summary>
internal readonly struct GroupSharesTeacherRow : ITeacherRowShare
{
    /// <inheritdoc/>
    public float Sum(float value) => default(GroupSharesRow).Sum(value);

    /// <inheritdoc/>
    public float Max(float value) => default(GroupSharesRow).Max(value);

    /// <inheritdoc/>
    public void Sync() => Group.Barrier();
}

/// <summary>
/// One-pass statistics of one row of logits: softmax sums at T and, for confidence weights, at T = 1, and a
/// poison value that turns NaN when the slice holds NaN or infinity (so bad input makes the row loss NaN, which the
/// bridge reports, even for a teacher whose weight is 0).
/// </summary>
internal struct LogitSums
{
    /// <summary>Online softmax statistics at T.</summary>
    public SoftmaxSums Soft;

    /// <summary>Online softmax statistics at T = 1 (confidence weights only).</summary>
    public SoftmaxSums Unit;

    /// <summary>0, or NaN once a non-finite logit was read.</summary>
    public float Poison;
}

/// <summary>The column terms of the statistics pass over one row of logits (a teacher's or the student's).</summary>
/// <param name="logits">The logits, any layout whose rows are C contiguous floats.</param>
/// <param name="inverseTemperature">1/T.</param>
/// <param name="withUnit">Whether to gather the T = 1 statistics as well.</param>
internal readonly struct LogitTerms(ArrayView<float> logits, float inverseTemperature, bool withUnit) : IRowTerms<LogitSums>
{
    private readonly ArrayView<float> logits = logits;
    private readonly float inverseTemperature = inverseTemperature;
    private readonly bool withUnit = withUnit;

    /// <inheritdoc/>
    public LogitSums Empty => new() { Soft = SoftmaxSums.Empty, Unit = SoftmaxSums.Empty };

    /// <inheritdoc/>
    public void Add(ref LogitSums sums, long index, int column)
    {
        float z = logits[index];
        if (!XMath.IsFinite(z)) sums.Poison = float.NaN;
        sums.Soft.Add(z, inverseTemperature);
        if (withUnit) sums.Unit.Add(z, 1f);
    }

    /// <inheritdoc/>
    public void Merge(ref LogitSums total, in LogitSums part)
    {
        total.Soft.Merge(part.Soft, inverseTemperature);
        total.Unit.Merge(part.Unit, 1f);
        total.Poison += part.Poison;
    }
}

/// <summary>An online log-sum-exp over a handful of values (the teachers' log weights of one row).</summary>
internal struct OnlineLogSum
{
    /// <summary>Largest value added (-inf when none).</summary>
    public float Max;

    /// <summary>sum exp(v - Max).</summary>
    public float Sum;

    /// <summary>Nothing added yet.</summary>
    public static OnlineLogSum Empty => new() { Max = float.NegativeInfinity };

    /// <summary>log sum exp of the values added.</summary>
    public readonly float Value => Max + XMath.Log(Sum);

    /// <summary>Adds one value; -inf (a zero weight) adds nothing, rather than exp(-inf - -inf) = NaN.</summary>
    /// <param name="v">A log value.</param>
    public void Add(float v)
    {
        if (v == float.NegativeInfinity) return;
        if (v > Max)
        {
            Sum = Sum * XMath.Exp(Max - v) + 1f;
            Max = v;
        }
        else
        {
            Sum += XMath.Exp(v - Max);
        }
    }
}

/// <summary>
/// The column terms of the second pass: per column, the teachers' mixture q = sum_k exp((t_k - max_k) / T + c_k),
/// with c_k = log w_k - log-sum_k (every exponent is &lt;= 0, so the sum cannot overflow, and a zero weight's c_k of
/// -inf adds exp(-inf) = 0), the column's share q (log q - log p) of KL(q || p), and the gradient T/B (p - q) written
/// in place. With one teacher log q is the exponent itself; with several it is log of the sum, taken only where q &gt;
/// 0 (a column where every teacher underflows adds 0: 0 log 0 = 0).
/// </summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teachers">Teacher logits, [K*B*C].</param>
/// <param name="statistics">Per-row, per-teacher max and offset c_k, [B*K*4].</param>
/// <param name="gradient">Output, [B*C].</param>
/// <param name="statisticsOffset">Index of the row's first statistic.</param>
/// <param name="teacherStride">B*C, the distance between teachers.</param>
/// <param name="teacherCount">K.</param>
/// <param name="inverseTemperature">1/T.</param>
/// <param name="studentMax">Row max of the student logits.</param>
/// <param name="studentLogSum">log sum exp((z_s - max) / T).</param>
/// <param name="gradScale">T / B.</param>
internal readonly struct MixtureTerms(ArrayView<float> student, ArrayView<float> teachers, ArrayView<float> statistics,
    ArrayView<float> gradient, long statisticsOffset, long teacherStride, int teacherCount, float inverseTemperature,
    float studentMax, float studentLogSum, float gradScale) : IRowTerms<float>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teachers = teachers;
    private readonly ArrayView<float> statistics = statistics;
    private readonly ArrayView<float> gradient = gradient;
    private readonly long statisticsOffset = statisticsOffset;
    private readonly long teacherStride = teacherStride;
    private readonly int teacherCount = teacherCount;
    private readonly float inverseTemperature = inverseTemperature;
    private readonly float studentMax = studentMax;
    private readonly float studentLogSum = studentLogSum;
    private readonly float gradScale = gradScale;

    /// <inheritdoc/>
    public float Empty => 0f;

    /// <inheritdoc/>
    public void Add(ref float sums, long index, int column)
    {
        float logQ, q;
        if (teacherCount == 1)
        {
            logQ = (teachers[index] - statistics[statisticsOffset]) * inverseTemperature
                + statistics[statisticsOffset + MultiTeacherRow.OffsetSlot];
            q = XMath.Exp(logQ);
        }
        else
        {
            q = 0f;
            for (int k = 0; k < teacherCount; k++)
            {
                long s = statisticsOffset + (long)k * MultiTeacherRow.StatisticsPerTeacher;
                q += XMath.Exp((teachers[index + k * teacherStride] - statistics[s]) * inverseTemperature
                    + statistics[s + MultiTeacherRow.OffsetSlot]);
            }
            logQ = q > 0f ? XMath.Log(q) : 0f;
        }
        float logStudent = (student[index] - studentMax) * inverseTemperature - studentLogSum;
        gradient[index] = gradScale * (XMath.Exp(logStudent) - q);
        if (q > 0f) sums += q * (logQ - logStudent);
    }

    /// <inheritdoc/>
    public void Merge(ref float total, in float part) => total += part;
}

/// <summary>
/// Device functions for one row of the fused multi-teacher KD. Both kernel layouts call them: a thread per row
/// (start 0, stride 1, <see cref="ThreadOwnsTeacherRow"/>) and a group per row (start = thread index, stride = group
/// size, <see cref="GroupSharesTeacherRow"/>).
/// </summary>
internal static class MultiTeacherRow
{
    /// <summary>
    /// Scratch floats per row and teacher: the max of its logits; its log-sum at T, replaced by the offset c_k =
    /// log w_k - log-sum once the weights are normalised; and its unnormalised log weight as a float pair (head, tail).
    /// </summary>
    public const int StatisticsPerTeacher = 4;

    /// <summary>Slot of the log-sum, then of c_k.</summary>
    public const int OffsetSlot = 1;

    /// <summary>Slot of the head of the unnormalised log weight.</summary>
    private const int LogWeightSlot = 2;

    /// <summary>Slot of its tail.</summary>
    private const int LogWeightTailSlot = 3;

    /// <summary>
    /// Handles one row: a statistics pass over each teacher (and its weight), one over the student, then one pass
    /// that forms the mixture per column, accumulates T^2/B KL(q || p) and writes T/B (p - q). Reads each teacher
    /// row and the student row twice.
    /// </summary>
    /// <typeparam name="TShare">How the row is shared.</typeparam>
    /// <param name="row">The row.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teachers">Teacher logits, [K*B*C] (teacher-major).</param>
    /// <param name="weights">Fixed weights, [K] (unused with confidence weights).</param>
    /// <param name="labels">Labels, [B] (used by confidence weights only).</param>
    /// <param name="statistics">Scratch, [B*K*4].</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output per-row loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void Run<TShare>(int row, int start, int stride, ArrayView<float> student, ArrayView<float> teachers,
        ArrayView<float> weights, ArrayView<int> labels, ArrayView<float> statistics, ArrayView<float> gradient,
        ArrayView<float> rowLoss, in MultiTeacherParameters p) where TShare : struct, ITeacherRowShare
    {
        int classes = p.Classes;
        long offset = (long)row * classes;
        bool confidence = p.Confidence != 0;
        int label = confidence ? labels[row] : 0;
        if (label < 0 || label >= classes)
        {
            // The bridge rejects such labels before launching; the kernel still must not read out of bounds.
            RowLabels.ClearGradient(gradient, offset, start, stride, classes);
            if (start == 0) rowLoss[row] = float.NaN;
            return;
        }

        float inverseTemperature = p.InverseTemperature;
        long teacherStride = (long)p.Rows * classes;
        long statisticsOffset = (long)row * p.Teachers * StatisticsPerTeacher;
        float poison = 0f;
        var teacherTerms = new LogitTerms(teachers, inverseTemperature, confidence);
        for (int k = 0; k < p.Teachers; k++)
        {
            long teacherOffset = k * teacherStride + offset;
            LogitSums sums = RowSweep.Accumulate<LogitSums, LogitTerms>(teacherTerms, teacherOffset, start, stride, classes);
            poison += sums.Poison;
            sums.Soft.Combine<TShare>(inverseTemperature);
            if (confidence) sums.Unit.Combine<TShare>(1f);
            if (start != 0) continue;

            long s = statisticsOffset + (long)k * StatisticsPerTeacher;
            statistics[s] = sums.Soft.Max;
            statistics[s + OffsetSlot] = sums.Soft.LogSum;
            if (confidence)
            {
                // log softmax(t_k)[y] at T = 1, the teacher's confidence in the right answer, kept as head + tail:
                // t_y - max is exact as a float pair, so weights of confidently wrong teachers (log weights of
                // -1e4) still compare to 1e-7 absolute, not to the 1e-3 one float at 1e4 resolves.
                float head = TwoSum(teachers[teacherOffset + label], -sums.Unit.Max, out float tail);
                statistics[s + LogWeightSlot] = head;
                statistics[s + LogWeightTailSlot] = tail - sums.Unit.LogSum;
            }
            else
            {
                float w = weights[k];
                statistics[s + LogWeightSlot] = w > 0f ? XMath.Log(w) : float.NegativeInfinity;
                statistics[s + LogWeightTailSlot] = 0f;
            }
        }
        if (start == 0) NormalizeLogWeights(statistics, statisticsOffset, p.Teachers);

        var studentTerms = new LogitTerms(student, inverseTemperature, false);
        LogitSums own = RowSweep.Accumulate<LogitSums, LogitTerms>(studentTerms, offset, start, stride, classes);
        poison += own.Poison;
        own.Soft.Combine<TShare>(inverseTemperature);
        default(TShare).Sync();

        var mixtureTerms = new MixtureTerms(student, teachers, statistics, gradient, statisticsOffset, teacherStride,
            p.Teachers, inverseTemperature, own.Soft.Max, own.Soft.LogSum, p.GradScale);
        float divergence = RowSweep.Accumulate<float, MixtureTerms>(mixtureTerms, offset, start, stride, classes);
        float loss = p.LossScale * default(TShare).Sum(divergence + poison);
        if (start == 0) rowLoss[row] = loss;
    }

    /// <summary>
    /// Turns each teacher's (head, tail) log weight into log(w_k / sum_j w_j) and stores c_k = that - log-sum_k in the
    /// offset slot. Differences are taken against the largest log weight head to head (nearly equal heads subtract
    /// exactly) and tail to tail, so the weights that matter keep float32's relative accuracy whatever the size of the
    /// logits.
    /// </summary>
    /// <param name="statistics">Scratch, [B*K*4].</param>
    /// <param name="statisticsOffset">Index of the row's first statistic.</param>
    /// <param name="teacherCount">K.</param>
    private static void NormalizeLogWeights(ArrayView<float> statistics, long statisticsOffset, int teacherCount)
    {
        float bestHead = float.NegativeInfinity, bestTail = 0f, bestSum = float.NegativeInfinity;
        for (int k = 0; k < teacherCount; k++)
        {
            long s = statisticsOffset + (long)k * StatisticsPerTeacher;
            float head = statistics[s + LogWeightSlot];
            float tail = statistics[s + LogWeightTailSlot];
            if (head + tail > bestSum)
            {
                bestSum = head + tail;
                bestHead = head;
                bestTail = tail;
            }
        }

        OnlineLogSum total = OnlineLogSum.Empty;
        for (int k = 0; k < teacherCount; k++)
        {
            long s = statisticsOffset + (long)k * StatisticsPerTeacher;
            float head = statistics[s + LogWeightSlot];
            float relative = head == float.NegativeInfinity ? head
                : (head - bestHead) + (statistics[s + LogWeightTailSlot] - bestTail);
            statistics[s + LogWeightSlot] = relative;
            total.Add(relative);
        }

        float logTotal = total.Value;
        for (int k = 0; k < teacherCount; k++)
        {
            long s = statisticsOffset + (long)k * StatisticsPerTeacher;
            // A zero weight stays -inf here, and exp(-inf) = 0 leaves its teacher out of the mixture.
            statistics[s + OffsetSlot] = (statistics[s + LogWeightSlot] - logTotal) - statistics[s + OffsetSlot];
        }
    }

    /// <summary>a + b as the rounded sum and its exact rounding error (Knuth's TwoSum; needs no ordering of a, b).</summary>
    /// <param name="a">A value.</param>
    /// <param name="b">Another.</param>
    /// <param name="error">a + b - the returned sum, exactly.</param>
    /// <returns>fl(a + b).</returns>
    private static float TwoSum(float a, float b, out float error)
    {
        float sum = a + b;
        float bPart = sum - a;
        float aPart = sum - bPart;
        error = (a - aPart) + (b - bPart);
        return sum;
    }
}
