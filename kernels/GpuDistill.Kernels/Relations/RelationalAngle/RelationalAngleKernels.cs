using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations.RelationalAngle;

/// <summary>
/// RKD angle-wise loss (Park et al. 2019, loss-spec 3.1): a_ijk = u_ij . u_ik with u_ij = normalize(e_j - e_i),
/// compared by smooth L1 averaged over B^3, without materialising B^3 x D or B^3. Every angle is read on the fly
/// from the B x B Gram matrix of the centred embeddings (angles only see differences, and centring keeps the Gram
/// form from cancelling when the embeddings share a large offset):
/// dot(e_j - e_i, e_k - e_i) = G_jk - G_ij - G_ik + G_ii. The gradient is a B x B mixing matrix M applied to the
/// centred embeddings, dL/dE = M E, built in O(B^3) time and O(B^2) memory. No group barriers.
/// </summary>
/// <remarks>
/// With c_ij = max(||e_j - e_i||, 1e-12), G_ijk = scale h'(a_s,ijk - a_t,ijk), alpha_ijk = 2 G_ijk / (c_ij c_ik),
/// A_ij = sum_k alpha_ijk, T_ij = sum_k alpha_ikj and beta_ij = sum_k 2 G_ijk a_s,ijk / c_ij^2, the spec's per-anchor gradient
/// gv_ij = sum_k alpha_ijk (e_k - e_i) - beta_ij (e_j - e_i), added to e_j and taken from e_i, sums to
/// M[m,x] = sum_i alpha_imx - T_mx + beta_xm + beta_mx - A_xm + [x = m] (sum_j A_mj - sum_i beta_im - sum_j beta_mj).
/// A, T and beta come from one pass over (anchor, j, k), sum_i alpha_imx from a second: 4 B^3 angle evaluations.
/// Differences the Gram form cannot resolve (computed norm below 1e-12) count as zero vectors, as F.normalize
/// makes them; their alpha, and beta below the clamp, are 0 because they multiply e_k - e_i = 0.
/// </remarks>
public static class RelationalAngleKernels
{
    /// <summary>One thread per feature d: the batch mean of column d.</summary>
    /// <param name="column">d.</param>
    /// <param name="features">e, [B*D].</param>
    /// <param name="means">Output, [D].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void ColumnMeans(Index1D column, ArrayView<float> features, ArrayView<float> means, int rows,
        int width)
    {
        float sum = 0f;
        for (int i = 0; i < rows; i++) sum += features[(long)i * width + column];
        means[column] = sum / rows;
    }

    /// <summary>One thread per pair (i, j): G_ij = dot(e_i - mean, e_j - mean).</summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="features">e, [B*D].</param>
    /// <param name="means">Column means, [D].</param>
    /// <param name="gram">Output, [B*B].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void CenteredGram(Index1D index, ArrayView<float> features, ArrayView<float> means,
        ArrayView<float> gram, int rows, int width)
    {
        int i = index / rows;
        int j = index - i * rows;
        long offsetI = (long)i * width, offsetJ = (long)j * width;
        float total = 0f;
        for (int start = 0; start < width; start += 512)
        {
            int end = XMath.Min(width, start + 512);
            float block = 0f;
            for (int d = start; d < end; d++)
                block += (features[offsetI + d] - means[d]) * (features[offsetJ + d] - means[d]);
            total += block;
        }
        gram[index] = total;
    }

    /// <summary>One thread per pair (i, j): ||e_j - e_i|| = sqrt(max(G_ii + G_jj - 2 G_ij, 0)), 0 on the diagonal.</summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="gram">Centred Gram matrix, [B*B].</param>
    /// <param name="norms">Output, [B*B].</param>
    /// <param name="rows">B.</param>
    public static void PairNorms(Index1D index, ArrayView<float> gram, ArrayView<float> norms, int rows)
    {
        int i = index / rows;
        int j = index - i * rows;
        float squared = gram[(long)i * rows + i] + gram[(long)j * rows + j] - 2f * gram[index];
        norms[index] = i == j ? 0f : XMath.Sqrt(XMath.Max(squared, 0f));
    }

    /// <summary>
    /// One thread per (anchor i, j): loops over k for the pair's share of the loss, A_ij, beta_ij and
    /// T_ij = sum_k alpha_ikj = [||e_j - e_i|| &gt;= 1e-12] sum_k 2 G_ijk / (c_ik ||e_j - e_i||) (alpha summed over its
    /// middle index, which G's symmetry in j and k turns into a sum over this thread's k).
    /// </summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="gramStudent">Student centred Gram, [B*B].</param>
    /// <param name="gramTeacher">Teacher centred Gram, [B*B].</param>
    /// <param name="normStudent">Student pair norms, [B*B].</param>
    /// <param name="normTeacher">Teacher pair norms, [B*B].</param>
    /// <param name="pairLoss">Output scale sum_k h(a_s,ijk - a_t,ijk), [B*B].</param>
    /// <param name="pairAlpha">Output A_ij, [B*B].</param>
    /// <param name="pairBeta">Output beta_ij, [B*B].</param>
    /// <param name="pairMiddle">Output T_ij, [B*B].</param>
    /// <param name="rows">B.</param>
    /// <param name="scale">1 / B^3.</param>
    public static void Pairs(Index1D index, ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> normStudent, ArrayView<float> normTeacher, ArrayView<float> pairLoss,
        ArrayView<float> pairAlpha, ArrayView<float> pairBeta, ArrayView<float> pairMiddle, int rows, float scale)
    {
        int i = index / rows;
        int j = index - i * rows;
        float loss = 0f, alpha = 0f, moment = 0f, middle = 0f;
        if (i != j)
        {
            float nij = normStudent[index];
            float cij = XMath.Max(nij, RelationMath.NormalizeEps);
            long rowI = (long)i * rows;
            for (int k = 0; k < rows; k++)
            {
                if (k == i) continue;
                float aS = Angle(gramStudent, normStudent, i, j, k, rows);
                float x = aS - Angle(gramTeacher, normTeacher, i, j, k, rows);
                loss += RelationMath.SmoothL1(x);
                float g = 2f * scale * RelationMath.SmoothL1Slope(x);
                float nik = normStudent[rowI + k];
                if (nik >= RelationMath.NormalizeEps) alpha += g / nik;
                middle += g / XMath.Max(nik, RelationMath.NormalizeEps);
                moment += g * aS;
            }
            bool resolved = nij >= RelationMath.NormalizeEps;
            alpha /= cij;
            middle = resolved ? middle / nij : 0f;
            moment = resolved ? moment / (cij * cij) : 0f;
        }
        pairLoss[index] = scale * loss;
        pairAlpha[index] = alpha;
        pairBeta[index] = moment;
        pairMiddle[index] = middle;
    }

    /// <summary>
    /// One thread per entry (m, x) of the mixing matrix M (see the class remarks): loops over the anchors i for
    /// sum_i alpha_imx; the diagonal thread also writes row m's share of the loss.
    /// </summary>
    /// <param name="index">m * B + x.</param>
    /// <param name="gramStudent">Student centred Gram, [B*B].</param>
    /// <param name="gramTeacher">Teacher centred Gram, [B*B].</param>
    /// <param name="normStudent">Student pair norms, [B*B].</param>
    /// <param name="normTeacher">Teacher pair norms, [B*B].</param>
    /// <param name="pairLoss">Per-pair loss, [B*B].</param>
    /// <param name="pairAlpha">A, [B*B].</param>
    /// <param name="pairBeta">beta, [B*B].</param>
    /// <param name="pairMiddle">T (sum_j alpha_mjx), [B*B].</param>
    /// <param name="mixing">Output M, [B*B].</param>
    /// <param name="rowLoss">Output per-anchor loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="scale">1 / B^3.</param>
    public static void Mixing(Index1D index, ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> normStudent, ArrayView<float> normTeacher, ArrayView<float> pairLoss,
        ArrayView<float> pairAlpha, ArrayView<float> pairBeta, ArrayView<float> pairMiddle, ArrayView<float> mixing,
        ArrayView<float> rowLoss, int rows, float scale)
    {
        int m = index / rows;
        int x = index - m * rows;
        float sum = 0f;
        for (int i = 0; i < rows; i++)
            sum += Alpha(gramStudent, gramTeacher, normStudent, normTeacher, i, m, x, rows, scale);
        long mx = (long)m * rows + x, xm = (long)x * rows + m;
        sum += pairBeta[xm] + pairBeta[mx] - pairAlpha[xm] - pairMiddle[mx];
        if (m == x)
        {
            float loss = 0f, diagonal = 0f;
            for (int j = 0; j < rows; j++)
            {
                long mj = (long)m * rows + j;
                loss += pairLoss[mj];
                diagonal += pairAlpha[mj] - pairBeta[(long)j * rows + m] - pairBeta[mj];
            }
            sum += diagonal;
            rowLoss[m] = loss;
        }
        mixing[index] = sum;
    }

    /// <summary>One thread per (m, d): d loss / d e[m, d] = sum_x M[m, x] (e[x, d] - mean_d).</summary>
    /// <param name="index">m * D + d.</param>
    /// <param name="features">e, [B*D].</param>
    /// <param name="means">Column means, [D].</param>
    /// <param name="mixing">M, [B*B].</param>
    /// <param name="gradient">Output, [B*D].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void Gradient(Index1D index, ArrayView<float> features, ArrayView<float> means,
        ArrayView<float> mixing, ArrayView<float> gradient, int rows, int width)
    {
        int m = index / width;
        int d = index - m * width;
        float mean = means[d];
        long offset = (long)m * rows;
        float sum = 0f;
        for (int x = 0; x < rows; x++) sum += mixing[offset + x] * (features[(long)x * width + d] - mean);
        gradient[index] = sum;
    }

    /// <summary>a_ijk from the Gram matrix and pair norms; 0 when j or k is the anchor or a difference is zero.</summary>
    private static float Angle(ArrayView<float> gram, ArrayView<float> norms, int i, int j, int k, int rows)
    {
        if (j == i || k == i) return 0f;
        long rowI = (long)i * rows;
        float nij = norms[rowI + j], nik = norms[rowI + k];
        if (nij < RelationMath.NormalizeEps || nik < RelationMath.NormalizeEps) return 0f;
        float dot = j == k ? nij * nij : gram[(long)j * rows + k] - gram[rowI + j] - gram[rowI + k] + gram[rowI + i];
        return dot / (nij * nik);
    }

    /// <summary>alpha_ijk = 2 scale h'(a_s,ijk - a_t,ijk) / (c_ij c_ik); 0 when u_ik is zero or i is j or k.</summary>
    private static float Alpha(ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> normStudent, ArrayView<float> normTeacher, int i, int j, int k, int rows, float scale)
    {
        if (j == i || k == i) return 0f;
        long rowI = (long)i * rows;
        float nik = normStudent[rowI + k];
        if (nik < RelationMath.NormalizeEps) return 0f;
        float x = Angle(gramStudent, normStudent, i, j, k, rows) - Angle(gramTeacher, normTeacher, i, j, k, rows);
        float cij = XMath.Max(normStudent[rowI + j], RelationMath.NormalizeEps);
        return 2f * scale * RelationMath.SmoothL1Slope(x) / (cij * nik);
    }
}
