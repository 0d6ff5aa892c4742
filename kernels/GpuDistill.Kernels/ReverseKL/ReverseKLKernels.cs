using GpuDistill.Rows;
using ILGPU;

namespace GpuDistill.ReverseKL;

/// <summary>
/// The fused reverse-KL kernels, T^2 KL(q_s || p_t) averaged over the counted rows (loss-spec 1.2). Each launch
/// reads every row three times (log-normalisers, KL sum, gradient) and writes the gradient and one loss per row.
/// </summary>
public static class ReverseKLKernels
{
    /// <summary>One thread per row (short rows, the CPU accelerator).</summary>
    /// <param name="row">The row this thread owns.</param>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels marking padding rows, [B] (length 1 and unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerThread(Index1D row, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, ReverseKLParameters p) =>
        ReverseKLRow.Run<ThreadOwnsRow>(row, 0, 1, student, teacher, labels, gradient, rowLoss, p);

    /// <summary>One group per row, grid-striding over rows (long rows on GPUs).</summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels marking padding rows, [B] (length 1 and unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerGroup(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, ReverseKLParameters p)
    {
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
            ReverseKLRow.Run<GroupSharesRow>(row, Group.IdxX, Group.DimX, student, teacher, labels, gradient, rowLoss, p);
    }
}
