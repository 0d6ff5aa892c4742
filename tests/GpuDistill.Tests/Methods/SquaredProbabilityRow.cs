using GpuDistill.Kernels.Rows;
using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Tests.Methods;

/// <summary>
/// A made-up row loss, written as a user of the library would add one (its kernel file): the squared error between
/// the softened distributions, w/N sum_c (q_c - p_c)^2 with q = softmax(z_s / T), p = softmax(z_t / T). Its gradient
/// is (2w / (N T)) q_j ((q_j - p_j) - sum_c q_c (q_c - p_c)). Three reads of the row: the log-normalisers, the two
/// sums, the gradient.
/// </summary>
public readonly struct SquaredProbabilityRow : IRowLoss
{
    /// <summary>The launch scalars for a checked batch.</summary>
    public SquaredProbabilityRow(RowBatch batch, double temperature, double weight = 1.0)
    {
        Rows = batch.Rows;
        Classes = batch.Classes;
        HasLabels = batch.HasLabels ? 1 : 0;
        IgnoreIndex = batch.IgnoreIndex;
        InverseTemperature = (float)(1 / temperature);
        float perRow = batch.CountedRows > 0 ? 1f / batch.CountedRows : 0f;
        LossScale = (float)weight * perRow;
        GradScale = (float)(2 * weight / temperature) * perRow;
    }

    public int Rows { get; }

    public int Classes { get; }

    public int HasLabels { get; }

    public int IgnoreIndex { get; }

    public float InverseTemperature { get; }

    /// <summary>w / N.</summary>
    public float LossScale { get; }

    /// <summary>2w / (N T).</summary>
    public float GradScale { get; }

    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine
    {
        LogSoftmaxPair logs = SoftmaxPair.Measure<TCombine>(row.Student, row.Teacher, row.Offset, row.Start, row.Stride,
            Classes, InverseTemperature);
        var terms = new Terms(row.Student, row.Teacher, logs);
        SumPair sums = RowSweep.Accumulate<SumPair, Terms>(terms, row.Offset, row.Start, row.Stride, Classes);
        sums.Combine<TCombine>();
        for (int c = row.Start; c < Classes; c += row.Stride)
        {
            long i = row.Offset + c;
            float q = XMath.Exp(logs.LogQ(row.Student[i]));
            float p = XMath.Exp(logs.LogP(row.Teacher[i]));
            row.Gradient[i] = GradScale * q * ((q - p) - sums.Second);
        }
        return LossScale * sums.First;
    }

    /// <summary>First = sum (q - p)^2, second = sum q (q - p).</summary>
    private readonly struct Terms(ArrayView<float> student, ArrayView<float> teacher, LogSoftmaxPair logs) : IRowTerms<SumPair>
    {
        private readonly ArrayView<float> student = student;
        private readonly ArrayView<float> teacher = teacher;
        private readonly LogSoftmaxPair logs = logs;

        public SumPair Empty => default;

        public void Add(ref SumPair sums, long index, int column)
        {
            float q = XMath.Exp(logs.LogQ(student[index]));
            float difference = q - XMath.Exp(logs.LogP(teacher[index]));
            sums.First += difference * difference;
            sums.Second += q * difference;
        }

        public void Merge(ref SumPair total, in SumPair part) => total.Merge(part);
    }
}
