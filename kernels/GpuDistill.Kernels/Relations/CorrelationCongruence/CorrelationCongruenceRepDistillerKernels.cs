using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>
/// Correlation congruence as RepDistiller computes it (loss-spec 3.4a): with delta = |f_s - f_t|, the mean over
/// consecutive examples i = 0 .. B-2 of sum_d delta_i,d delta_i+1,d. One thread per example for the loss, one per
/// (example, feature) for the gradient.
/// </summary>
public static class CorrelationCongruenceRepDistillerKernels
{
    /// <summary>One thread per example i: scale sum_d delta_i,d delta_i+1,d (0 for the last example).</summary>
    /// <param name="row">i.</param>
    /// <param name="student">f_s, [B*D].</param>
    /// <param name="teacher">f_t, [B*D].</param>
    /// <param name="rowLoss">Output, example i's share of the loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    /// <param name="scale">1 / (B - 1).</param>
    public static void Rows(Index1D row, ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> rowLoss,
        int rows, int width, float scale)
    {
        float sum = 0f;
        if (row < rows - 1)
        {
            long offset = (long)row.X * width;
            for (int d = 0; d < width; d++)
            {
                long here = offset + d, next = here + width;
                sum += XMath.Abs(student[here] - teacher[here]) * XMath.Abs(student[next] - teacher[next]);
            }
        }
        rowLoss[row] = scale * sum;
    }

    /// <summary>One thread per (i, d): sign(f_s - f_t)[i, d] (delta[i-1, d] + delta[i+1, d]) scale, edges dropped.</summary>
    /// <param name="index">i * D + d.</param>
    /// <param name="student">f_s, [B*D].</param>
    /// <param name="teacher">f_t, [B*D].</param>
    /// <param name="gradient">Output d loss / d f_s, [B*D] (the teacher's is its negative).</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    /// <param name="scale">1 / (B - 1).</param>
    public static void Gradient(Index1D index, ArrayView<float> student, ArrayView<float> teacher,
        ArrayView<float> gradient, int rows, int width, float scale)
    {
        int i = index / width;
        float neighbours = 0f;
        if (i > 0) neighbours += XMath.Abs(student[index - width] - teacher[index - width]);
        if (i < rows - 1) neighbours += XMath.Abs(student[index + width] - teacher[index + width]);
        gradient[index] = scale * RelationMath.Sign(student[index] - teacher[index]) * neighbours;
    }
}
