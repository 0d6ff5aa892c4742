using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations.RelationalDistance;

/// <summary>
/// RKD distance-wise loss (Park et al. 2019, loss-spec 3.1): pairwise distances normalised by their mean over the
/// off-diagonal entries, compared by smooth L1 averaged over B^2. No group barriers: one thread per pair for the
/// distances, one per row for the means, loss and pair weights, one per (example, feature) for the gradient.
/// </summary>
public static class RelationalDistanceKernels
{
    /// <summary>One thread per pair (i, j): ||e_i - e_j||^2 (0 on the diagonal), summed as differences.</summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="features">e, [B*D].</param>
    /// <param name="squared">Output, [B*B].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void SquaredDistances(Index1D index, ArrayView<float> features, ArrayView<float> squared, int rows,
        int width)
    {
        int i = index / rows;
        int j = index - i * rows;
        squared[index] = i == j ? 0f : RelationMath.SquaredDistance(features, (long)i * width, (long)j * width, width);
    }

    /// <summary>One thread per row i: sum_j d_ij of the student (entry i) and the teacher (entry B + i).</summary>
    /// <param name="row">i.</param>
    /// <param name="squaredStudent">Student squared distances, [B*B].</param>
    /// <param name="squaredTeacher">Teacher squared distances, [B*B].</param>
    /// <param name="rowSums">Output, [2B].</param>
    /// <param name="rows">B.</param>
    public static void RowSums(Index1D row, ArrayView<float> squaredStudent, ArrayView<float> squaredTeacher,
        ArrayView<float> rowSums, int rows)
    {
        long offset = (long)row.X * rows;
        float s = 0f, t = 0f;
        for (int j = 0; j < rows; j++)
        {
            if (j == row) continue;
            s += Distance(squaredStudent[offset + j]);
            t += Distance(squaredTeacher[offset + j]);
        }
        rowSums[row] = s;
        rowSums[rows + row] = t;
    }

    /// <summary>
    /// One thread per row i: its share of scale * sum_j h(d_s,ij / mu_s - d_t,ij / mu_t), the smooth-L1 slopes
    /// g_ij = scale h'(.), and sum_j g_ij d_s,ij (the mean's part of the gradient needs its total).
    /// </summary>
    /// <param name="row">i.</param>
    /// <param name="squaredStudent">Student squared distances, [B*B].</param>
    /// <param name="squaredTeacher">Teacher squared distances, [B*B].</param>
    /// <param name="rowSums">Row sums of both distance matrices, [2B].</param>
    /// <param name="slopes">Output g, [B*B].</param>
    /// <param name="rowMoment">Output sum_j g_ij d_s,ij, [B].</param>
    /// <param name="rowLoss">Output, row i's share of the loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="scale">1 / B^2.</param>
    public static void Rows(Index1D row, ArrayView<float> squaredStudent, ArrayView<float> squaredTeacher,
        ArrayView<float> rowSums, ArrayView<float> slopes, ArrayView<float> rowMoment, ArrayView<float> rowLoss,
        int rows, float scale)
    {
        float inverseMeanS = 1f / Mean(rowSums, 0, rows);
        float inverseMeanT = 1f / Mean(rowSums, rows, rows);
        long offset = (long)row.X * rows;
        float loss = 0f, moment = 0f;
        for (int j = 0; j < rows; j++)
        {
            if (j == row)
            {
                slopes[offset + j] = 0f;
                continue;
            }
            float ds = Distance(squaredStudent[offset + j]);
            float x = ds * inverseMeanS - Distance(squaredTeacher[offset + j]) * inverseMeanT;
            loss += RelationMath.SmoothL1(x);
            float g = scale * RelationMath.SmoothL1Slope(x);
            slopes[offset + j] = g;
            moment += g * ds;
        }
        rowLoss[row] = scale * loss;
        rowMoment[row] = moment;
    }

    /// <summary>
    /// One thread per row k: W_kl = (G_kl + G_lk) / d_kl with G_kl = g_kl / mu - (sum g d) / (N mu^2), and 0 on the
    /// diagonal and where the distance clamp is active (no gradient there).
    /// </summary>
    /// <param name="row">k.</param>
    /// <param name="squaredStudent">Student squared distances, [B*B].</param>
    /// <param name="rowSums">Row sums of both distance matrices, [2B].</param>
    /// <param name="slopes">g, [B*B].</param>
    /// <param name="rowMoment">sum_j g_ij d_s,ij, [B].</param>
    /// <param name="weights">Output W, [B*B].</param>
    /// <param name="rows">B.</param>
    public static void Weights(Index1D row, ArrayView<float> squaredStudent, ArrayView<float> rowSums,
        ArrayView<float> slopes, ArrayView<float> rowMoment, ArrayView<float> weights, int rows)
    {
        float mean = Mean(rowSums, 0, rows);
        float moment = 0f;
        for (int i = 0; i < rows; i++) moment += rowMoment[i];
        float pairs = (float)rows * (rows - 1);
        float shift = 2f * moment / (pairs * mean * mean);
        long offset = (long)row.X * rows;
        for (int l = 0; l < rows; l++)
        {
            float sq = squaredStudent[offset + l];
            weights[offset + l] = l == row || sq < RelationMath.SquaredDistanceFloor ? 0f
                : ((slopes[offset + l] + slopes[(long)l * rows + row]) / mean - shift) / XMath.Sqrt(sq);
        }
    }

    /// <summary>One thread per (k, d): d loss / d e[k, d] = sum_l W_kl (e_kd - e_ld).</summary>
    /// <param name="index">k * D + d.</param>
    /// <param name="features">e, [B*D].</param>
    /// <param name="weights">W, [B*B].</param>
    /// <param name="gradient">Output, [B*D].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void Gradient(Index1D index, ArrayView<float> features, ArrayView<float> weights,
        ArrayView<float> gradient, int rows, int width)
    {
        int k = index / width;
        int d = index - k * width;
        float own = features[index];
        long offset = (long)k * rows;
        float sum = 0f;
        for (int l = 0; l < rows; l++) sum += weights[offset + l] * (own - features[(long)l * width + d]);
        gradient[index] = sum;
    }

    /// <summary>d = sqrt(max(squared, 1e-12)).</summary>
    private static float Distance(float squared) => XMath.Sqrt(XMath.Max(squared, RelationMath.SquaredDistanceFloor));

    /// <summary>
    /// The mean of the B (B - 1) off-diagonal distances (every one is at least 1e-6 after the clamp, so "d &gt; 0"
    /// counts exactly those) from B row sums starting at <paramref name="start"/>.
    /// </summary>
    private static float Mean(ArrayView<float> rowSums, int start, int rows)
    {
        float sum = 0f;
        for (int i = 0; i < rows; i++) sum += rowSums[start + i];
        return sum / ((float)rows * (rows - 1));
    }
}
