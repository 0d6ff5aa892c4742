using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;

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
        ArrayView<int> labels, ArrayView<float> gradient, ArrayView<float> rowLoss, SoftmaxKLParameters p)
    {
        long offset = (long)row.X * p.Classes;
        int label = p.HasLabels != 0 ? labels[row] : -1;
        int status = SoftmaxKLRow.LabelStatus(label, p);
        if (status != 0)
        {
            SoftmaxKLRow.ClearGradient(gradient, offset, 0, 1, p.Classes);
            rowLoss[row] = status == 1 ? 0f : float.NaN;
            return;
        }

        bool withHard = p.HardScale != 0f;
        SoftmaxKLRowStats s = SoftmaxKLRow.Accumulate(student, teacher, offset, 0, 1, p, withHard);
        float atLabel = withHard ? student[offset + label] : 0f;
        rowLoss[row] = SoftmaxKLRow.Loss(s, atLabel, p, withHard);
        SoftmaxKLRow.WriteGradient(student, teacher, gradient, offset, 0, 1, s, label, p, withHard);
    }

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
        int lane = Group.IdxX;
        int width = Group.DimX;
        bool withHard = p.HardScale != 0f;
        // The loop bound is the same for every thread of a group, so the barriers inside stay uniform.
        for (int row = Grid.IdxX; row < p.Rows; row += Grid.DimX)
        {
            long offset = (long)row * p.Classes;
            int label = p.HasLabels != 0 ? labels[row] : -1;
            int status = SoftmaxKLRow.LabelStatus(label, p);
            if (status != 0)
            {
                SoftmaxKLRow.ClearGradient(gradient, offset, lane, width, p.Classes);
                if (lane == 0) rowLoss[row] = status == 1 ? 0f : float.NaN;
                continue;
            }

            SoftmaxKLRowStats s = SoftmaxKLRow.Accumulate(student, teacher, offset, lane, width, p, withHard);

            float maxS = GroupExtensions.AllReduce<float, MaxFloat>(s.MaxStudent);
            s.SumStudent = GroupExtensions.AllReduce<float, AddFloat>(SoftmaxKLRow.Rescale(s.SumStudent, s.MaxStudent, maxS, p.InverseTemperature));
            s.MaxStudent = maxS;

            float maxT = GroupExtensions.AllReduce<float, MaxFloat>(s.MaxTeacher);
            s.SumTeacher = GroupExtensions.AllReduce<float, AddFloat>(SoftmaxKLRow.Rescale(s.SumTeacher, s.MaxTeacher, maxT, p.InverseTemperature));
            s.Cross = GroupExtensions.AllReduce<float, AddFloat>(SoftmaxKLRow.Rescale(s.Cross, s.MaxTeacher, maxT, p.InverseTemperature));
            s.MaxTeacher = maxT;

            if (withHard)
            {
                float maxH = GroupExtensions.AllReduce<float, MaxFloat>(s.MaxHard);
                s.SumHard = GroupExtensions.AllReduce<float, AddFloat>(SoftmaxKLRow.Rescale(s.SumHard, s.MaxHard, maxH, 1f));
                s.MaxHard = maxH;
            }

            if (lane == 0)
            {
                float atLabel = withHard ? student[offset + label] : 0f;
                rowLoss[row] = SoftmaxKLRow.Loss(s, atLabel, p, withHard);
            }
            SoftmaxKLRow.WriteGradient(student, teacher, gradient, offset, lane, width, s, label, p, withHard);
        }
    }
}
