using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations.SimilarityPreserving;

/// <summary>
/// Similarity-preserving distillation (Tung and Mori 2019, loss-spec 3.2): the row-normalised Gram matrices of the
/// student's and teacher's batch, compared in squared Frobenius norm over B^2. No group barriers: one thread per
/// Gram entry, one per row for the normalisation and loss, one per (example, feature) for the gradient.
/// </summary>
public static class SimilarityPreservingKernels
{
    /// <summary>One thread per entry (i, j) of G = F F^T.</summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="features">F, [B*D] row-major.</param>
    /// <param name="gram">Output G, [B*B].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void Gram(Index1D index, ArrayView<float> features, ArrayView<float> gram, int rows, int width)
    {
        int i = index / rows;
        int j = index - i * rows;
        gram[index] = RelationMath.Dot(features, (long)i * width, features, (long)j * width, width);
    }

    /// <summary>
    /// One thread per row i: normalises row i of both Gram matrices, writes its share of the loss
    /// scale * ||G^_t,i - G^_s,i||^2 and d loss / d G_s for that row (the normalisation's Jacobian applied to
    /// H = -2 scale (G^_t - G^_s)).
    /// </summary>
    /// <param name="row">i.</param>
    /// <param name="gramStudent">G_s, [B*B].</param>
    /// <param name="gramTeacher">G_t, [B*B].</param>
    /// <param name="gramGradient">Output d loss / d G_s, [B*B].</param>
    /// <param name="rowLoss">Output, row i's share of the loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="scale">1 / B^2.</param>
    public static void Rows(Index1D row, ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> gramGradient, ArrayView<float> rowLoss, int rows, float scale)
    {
        long offset = (long)row.X * rows;
        float normS = 0f, normT = 0f;
        for (int j = 0; j < rows; j++)
        {
            float s = gramStudent[offset + j], t = gramTeacher[offset + j];
            normS += s * s;
            normT += t * t;
        }
        normS = XMath.Sqrt(normS);
        normT = XMath.Sqrt(normT);
        float inverseS = 1f / XMath.Max(normS, RelationMath.NormalizeEps);
        float inverseT = 1f / XMath.Max(normT, RelationMath.NormalizeEps);

        float loss = 0f, projection = 0f;
        for (int j = 0; j < rows; j++)
        {
            float a = gramStudent[offset + j] * inverseS;
            float diff = gramTeacher[offset + j] * inverseT - a;
            loss += diff * diff;
            projection += a * diff;
        }
        rowLoss[row] = scale * loss;

        // dG = (H - a dot(a, H)) / ||G_i|| with H = -2 scale diff; below eps the normalisation is G / eps, whose
        // Jacobian has no projection.
        float h = -2f * scale;
        float keep = normS >= RelationMath.NormalizeEps ? projection : 0f;
        for (int j = 0; j < rows; j++)
        {
            float a = gramStudent[offset + j] * inverseS;
            float diff = gramTeacher[offset + j] * inverseT - a;
            gramGradient[offset + j] = h * (diff - a * keep) * inverseS;
        }
    }

    /// <summary>One thread per (k, d): d loss / d F[k, d] = ((dG + dG^T) F)[k, d].</summary>
    /// <param name="index">k * D + d.</param>
    /// <param name="features">F, [B*D].</param>
    /// <param name="gramGradient">d loss / d G, [B*B].</param>
    /// <param name="gradient">Output, [B*D].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void Gradient(Index1D index, ArrayView<float> features, ArrayView<float> gramGradient,
        ArrayView<float> gradient, int rows, int width)
    {
        int k = index / width;
        int d = index - k * width;
        gradient[index] = RelationMath.SymmetricProduct(gramGradient, features, k, d, rows, width);
    }
}
