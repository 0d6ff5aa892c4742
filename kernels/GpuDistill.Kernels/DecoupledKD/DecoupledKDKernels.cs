using GpuDistill.Rows;
using ILGPU;

namespace GpuDistill.DecoupledKD;

/// <summary>
/// The fused Decoupled KD kernels (Zhao et al., CVPR 2022): w T^2 (alpha TCKD + beta NCKD) averaged over the counted
/// rows (loss-spec 1.4). Each launch reads every row twice and writes the gradient and one loss per row.
/// </summary>
public static class DecoupledKDKernels
{
    /// <summary>One thread per row (short rows, the CPU accelerator).</summary>
    /// <param name="row">The row this thread owns.</param>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Target class of each row, [B] (ignore index for padding).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerThread(Index1D row, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, DecoupledKDParameters p) =>
        DecoupledKDRow.Run<ThreadOwnsRow>(row, 0, 1, student, teacher, labels, gradient, rowLoss, p);

    /// <summary>One group per row, grid-striding over rows (long rows on GPUs).</summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Target class of each row, [B] (ignore index for padding).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerGroup(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, DecoupledKDParameters p)
    {
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
            DecoupledKDRow.Run<GroupSharesRow>(row, Group.IdxX, Group.DimX, student, teacher, labels, gradient, rowLoss, p);
    }
}
