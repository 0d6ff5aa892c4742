using GpuDistill.Rows;
using ILGPU;

namespace GpuDistill.JensenShannon;

/// <summary>
/// The fused generalised Jensen-Shannon kernels, T^2 JSD_beta(P, Q) averaged over the counted rows (loss-spec 1.3).
/// Each launch reads every row three times for 0 &lt; beta &lt; 1 (two or three at the KL endpoints) and writes the
/// gradient and one loss per row.
/// </summary>
public static class JensenShannonKernels
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
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, JensenShannonParameters p) =>
        JensenShannonRow.Run<ThreadOwnsRow>(row, 0, 1, student, teacher, labels, gradient, rowLoss, p);

    /// <summary>One group per row, grid-striding over rows (long rows on GPUs).</summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels marking padding rows, [B] (length 1 and unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerGroup(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, JensenShannonParameters p)
    {
        // The loop bound and the mode are the same for every thread of a group, so the barriers stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
            JensenShannonRow.Run<GroupSharesRow>(row, Group.IdxX, Group.DimX, student, teacher, labels, gradient, rowLoss, p);
    }
}
