using ILGPU;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The two kernel layouts every fused row loss runs in, written once: the loss is the type parameter, whose
/// <see cref="IRowLoss.Process{TCombine}"/> handles one counted row. Each launch reads every row (as often as the
/// loss needs) and writes the gradient (two-sided losses: both gradients) and one loss value per row; the label rules
/// are the same for every loss (<see cref="RowLabels"/>).
/// </summary>
public static class RowLossKernels
{
    /// <summary>One thread per row. Suits short rows and the CPU accelerator, where group barriers are expensive.</summary>
    /// <typeparam name="TLoss">The row loss (its launch scalars and row function).</typeparam>
    /// <param name="row">The row this thread owns.</param>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels, [B] (length 1 and unused when the loss has none).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="teacherGradient">Output d loss / d z_t, [B*C], for a two-sided loss; one element otherwise.</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="loss">Launch scalars.</param>
    public static void RowPerThread<TLoss>(Index1D row, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> teacherGradient, ArrayView<float> rowLoss,
        TLoss loss)
        where TLoss : unmanaged, IRowLoss =>
        Run<TLoss, ThreadOwnsRow>(row, 0, 1, student, teacher, labels, gradient, teacherGradient, rowLoss, loss);

    /// <summary>
    /// One group per row, grid-striding over rows; the threads of a group split the columns and combine their
    /// statistics with group reductions. Suits long rows (LLM vocabularies) on GPUs.
    /// </summary>
    /// <typeparam name="TLoss">The row loss (its launch scalars and row function).</typeparam>
    /// <param name="student">Student logits, [B*C] row-major.</param>
    /// <param name="teacher">Teacher logits, [B*C] row-major.</param>
    /// <param name="labels">Labels, [B] (length 1 and unused when the loss has none).</param>
    /// <param name="gradient">Output d loss / d z_s, [B*C].</param>
    /// <param name="teacherGradient">Output d loss / d z_t, [B*C], for a two-sided loss; one element otherwise.</param>
    /// <param name="rowLoss">Output, each row's share of the loss, [B].</param>
    /// <param name="loss">Launch scalars.</param>
    public static void RowPerGroup<TLoss>(ArrayView<float> student, ArrayView<float> teacher, ArrayView<int> labels,
        ArrayView<float> gradient, ArrayView<float> teacherGradient, ArrayView<float> rowLoss, TLoss loss)
        where TLoss : unmanaged, IRowLoss
    {
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < loss.Rows; row += Grid.DimX)
            Run<TLoss, GroupSharesRow>(row, Group.IdxX, Group.DimX, student, teacher, labels, gradient, teacherGradient,
                rowLoss, loss);
    }

    /// <summary>Handles one row: label check, the loss's row function, the row's loss (written by the slice at column 0).</summary>
    private static void Run<TLoss, TCombine>(int row, int start, int stride, ArrayView<float> student,
        ArrayView<float> teacher, ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> teacherGradient,
        ArrayView<float> rowLoss, in TLoss loss)
        where TLoss : unmanaged, IRowLoss
        where TCombine : struct, IRowCombine
    {
        long offset = (long)row * loss.Classes;
        int label = loss.HasLabels != 0 ? labels[row] : -1;
        int status = RowLabels.Status(label, loss.HasLabels, loss.IgnoreIndex, loss.Classes);
        if (status != RowLabels.Counted)
        {
            RowLabels.ClearGradient(gradient, offset, start, stride, loss.Classes);
            // Only a two-sided launch passes a full-size teacher gradient; a one-sided one passes a one-element
            // placeholder (clearing it when B*C = 1 is harmless).
            if (teacherGradient.Length == gradient.Length)
                RowLabels.ClearGradient(teacherGradient, offset, start, stride, loss.Classes);
            if (start == 0) rowLoss[row] = RowLabels.SkippedLoss(status);
            return;
        }

        float value = loss.Process<TCombine>(new RowSlice(student, teacher, gradient, teacherGradient, offset, start, stride,
            loss.Classes), label);
        if (start == 0) rowLoss[row] = value;
    }
}
