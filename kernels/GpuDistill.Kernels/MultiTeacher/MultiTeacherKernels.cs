using ILGPU;

namespace GpuDistill.Kernels.MultiTeacher;

/// <summary>
/// The fused multi-teacher KD kernels: for K teachers in one launch, per row, the mixture q = sum_k w_k
/// softmax(t_k / T), the loss T^2/B KL(q || softmax(s / T)) and the student's gradient T/B (p - q). Each launch reads
/// every teacher row and the student row twice and writes the gradient and one loss value per row.
/// </summary>
public static class MultiTeacherKernels
{
    /// <summary>One thread per row. Suits short rows and the CPU accelerator, where group barriers are expensive.</summary>
    /// <param name="row">The row this thread owns.</param>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teachers">Teacher logits, [K*B*C]: teacher k's row b starts at (k B + b) C.</param>
    /// <param name="weights">Fixed teacher weights, [K] (length 1 and unused with confidence weights).</param>
    /// <param name="labels">Labels, [B] (length 1 and unused with fixed weights).</param>
    /// <param name="statistics">Scratch, [B*K*4] (<see cref="MultiTeacherLauncher.StatisticsLength"/>).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerThread(Index1D row, ArrayView<float> student, ArrayView<float> teachers,
        ArrayView<float> weights, ArrayView<int> labels, ArrayView<float> statistics, ArrayView<float> gradient,
        ArrayView<float> rowLoss, MultiTeacherParameters p) =>
        MultiTeacherRow.Run<ThreadOwnsTeacherRow>(row, 0, 1, student, teachers, weights, labels, statistics, gradient,
            rowLoss, p);

    /// <summary>
    /// One group per row, grid-striding over rows; the threads of a group split the columns and combine their
    /// statistics with group reductions. Suits long rows on GPUs.
    /// </summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teachers">Teacher logits, [K*B*C]: teacher k's row b starts at (k B + b) C.</param>
    /// <param name="weights">Fixed teacher weights, [K] (length 1 and unused with confidence weights).</param>
    /// <param name="labels">Labels, [B] (length 1 and unused with fixed weights).</param>
    /// <param name="statistics">Scratch, [B*K*4].</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerGroup(ArrayView<float> student, ArrayView<float> teachers, ArrayView<float> weights,
        ArrayView<int> labels, ArrayView<float> statistics, ArrayView<float> gradient, ArrayView<float> rowLoss,
        MultiTeacherParameters p)
    {
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
        {
            MultiTeacherRow.Run<GroupSharesTeacherRow>(row, Group.IdxX, Group.DimX, student, teachers, weights, labels,
                statistics, gradient, rowLoss, p);
        }
    }
}
