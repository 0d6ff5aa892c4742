using GpuDistill.Rows;
using ILGPU;

namespace GpuDistill.SoftmaxKL;

/// <summary>
/// The fused softened-softmax KL kernels (Hinton KD, optional hard-label cross-entropy). Each launch reads every
/// row twice (statistics, then gradient) and writes the gradient and one loss value per row.
/// </summary>
public static class SoftmaxKLKernels
{
    /// <summary>
    /// One thread per row. Suits short rows and the CPU accelerator, where group barriers are expensive.
    /// </summary>
    /// <param name="row">The row this thread owns.</param>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Hard labels, [B] (length 1 and unused when <see cref="SoftmaxKLParameters.HasLabels"/> is 0).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerThread(Index1D row, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, SoftmaxKLParameters p) =>
        SoftmaxKLRow.Run<ThreadOwnsRow>(row, 0, 1, student, teacher, labels, gradient, rowLoss, p);

    /// <summary>
    /// One group per row, grid-striding over rows; the threads of a group split the columns and combine their
    /// statistics with group reductions. Suits long rows (LLM vocabularies) on GPUs.
    /// </summary>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Hard labels, [B] (length 1 and unused without labels).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="p">Launch scalars.</param>
    public static void RowPerGroup(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> rowLoss, SoftmaxKLParameters p)
    {
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
            SoftmaxKLRow.Run<GroupSharesRow>(row, Group.IdxX, Group.DimX, student, teacher, labels, gradient, rowLoss, p);
    }
}
