using ILGPU;
using ILGPU.Algorithms;

namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>
/// Correlation congruence as torchdistill computes it (loss-spec 3.4b): C = k(F) over the batch with a bilinear or
/// Taylor-Gaussian kernel, loss ||C_s - C_t||_F / B^2 (a norm, not squared). One thread per Gram entry, one per row
/// for the loss and d loss / d G, one per (example, feature) for the gradient.
/// </summary>
public static class CorrelationCongruenceKernelKernels
{
    /// <summary>One thread per entry (i, j) of G = F F^T.</summary>
    /// <param name="index">i * B + j.</param>
    /// <param name="features">F, [B*D].</param>
    /// <param name="gram">Output G, [B*B].</param>
    /// <param name="rows">B.</param>
    /// <param name="width">D.</param>
    public static void Gram(Index1D index, ArrayView<float> features, ArrayView<float> gram, int rows, int width)
    {
        int i = index / rows;
        int j = index - i * rows;
        gram[index] = RelationMath.Dot(features, (long)i * width, features, (long)j * width, width);
    }

    /// <summary>One thread per row i: sum_j (k(G_s,ij) - k(G_t,ij))^2.</summary>
    /// <param name="row">i.</param>
    /// <param name="gramStudent">G_s, [B*B].</param>
    /// <param name="gramTeacher">G_t, [B*B].</param>
    /// <param name="squares">Output, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="p">The correlation kernel.</param>
    public static void Squares(Index1D row, ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> squares, int rows, CorrelationKernelParameters p)
    {
        long offset = (long)row.X * rows;
        float sum = 0f;
        for (int j = 0; j < rows; j++)
        {
            float diff = p.Value(gramStudent[offset + j]) - p.Value(gramTeacher[offset + j]);
            sum += diff * diff;
        }
        squares[row] = sum;
    }

    /// <summary>
    /// One thread per row i: with n = ||C_s - C_t||_F (from all rows' squares), row i's share of the loss
    /// squares_i / (n B^2) and d loss / d G_s,ij = (C_s - C_t)_ij k'(G_s,ij) / (n B^2); all 0 when n = 0, where the
    /// norm has no gradient (PyTorch's choice too).
    /// </summary>
    /// <param name="row">i.</param>
    /// <param name="gramStudent">G_s, [B*B].</param>
    /// <param name="gramTeacher">G_t, [B*B].</param>
    /// <param name="squares">Every row's sum of squares, [B].</param>
    /// <param name="gramGradient">Output d loss / d G_s, [B*B].</param>
    /// <param name="rowLoss">Output, row i's share of the loss, [B].</param>
    /// <param name="rows">B.</param>
    /// <param name="p">The correlation kernel.</param>
    /// <param name="scale">1 / B^2.</param>
    public static void Rows(Index1D row, ArrayView<float> gramStudent, ArrayView<float> gramTeacher,
        ArrayView<float> squares, ArrayView<float> gramGradient, ArrayView<float> rowLoss, int rows,
        CorrelationKernelParameters p, float scale)
    {
        float total = 0f;
        for (int i = 0; i < rows; i++) total += squares[i];
        float norm = XMath.Sqrt(total);
        float factor = norm > 0f ? scale / norm : 0f;
        rowLoss[row] = factor * squares[row];
        long offset = (long)row.X * rows;
        for (int j = 0; j < rows; j++)
        {
            float g = gramStudent[offset + j];
            float diff = p.Value(g) - p.Value(gramTeacher[offset + j]);
            gramGradient[offset + j] = factor * diff * p.Slope(g);
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
