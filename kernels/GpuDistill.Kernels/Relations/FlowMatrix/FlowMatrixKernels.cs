using ILGPU;

namespace GpuDistill.Kernels.Relations.FlowMatrix;

/// <summary>
/// FSP, the flow of solution procedure (Yim et al. 2017, loss-spec 3.3): per example, the C2 x C1 matrix
/// G[c2, c1] = (1/HW) sum_k top[c2, k] bottom[c1, k] between two layers of one network, compared between student
/// and teacher by the mean squared error over B C2 C1. No group barriers: one thread per flow entry, one per example
/// for the loss, one per feature-map element for each gradient.
/// </summary>
public static class FlowMatrixKernels
{
    /// <summary>One thread per (b, c2, c1): the flow matrix entry.</summary>
    /// <param name="index">(b * C2 + c2) * C1 + c1.</param>
    /// <param name="bottom">Bottom layer, [B*C1*HW].</param>
    /// <param name="top">Top layer, [B*C2*HW].</param>
    /// <param name="flow">Output G, [B*C2*C1].</param>
    /// <param name="bottomChannels">C1.</param>
    /// <param name="topChannels">C2.</param>
    /// <param name="area">HW (the same for both layers once pooled).</param>
    public static void Flow(Index1D index, ArrayView<float> bottom, ArrayView<float> top, ArrayView<float> flow,
        int bottomChannels, int topChannels, int area)
    {
        int perExample = bottomChannels * topChannels;
        int b = index / perExample;
        int rest = index - b * perExample;
        int c2 = rest / bottomChannels;
        int c1 = rest - c2 * bottomChannels;
        long topRow = ((long)b * topChannels + c2) * area;
        long bottomRow = ((long)b * bottomChannels + c1) * area;
        flow[index] = RelationMath.Dot(top, topRow, bottom, bottomRow, area) / area;
    }

    /// <summary>One thread per example b: scale sum_{c2, c1} (G_s - G_t)^2.</summary>
    /// <param name="example">b.</param>
    /// <param name="flowStudent">G_s, [B*C2*C1].</param>
    /// <param name="flowTeacher">G_t, [B*C2*C1].</param>
    /// <param name="rowLoss">Output, example b's share of the loss, [B].</param>
    /// <param name="perExample">C2 * C1.</param>
    /// <param name="scale">1 / (B C2 C1).</param>
    public static void Rows(Index1D example, ArrayView<float> flowStudent, ArrayView<float> flowTeacher,
        ArrayView<float> rowLoss, int perExample, float scale)
    {
        long offset = (long)example.X * perExample;
        float sum = 0f;
        for (int e = 0; e < perExample; e++)
        {
            float diff = flowStudent[offset + e] - flowTeacher[offset + e];
            sum += diff * diff;
        }
        rowLoss[example] = scale * sum;
    }

    /// <summary>One thread per (b, c1, k): d loss / d bottom = scale sum_c2 (G_s - G_t)[b, c2, c1] top[b, c2, k].</summary>
    /// <param name="index">(b * C1 + c1) * HW + k.</param>
    /// <param name="flowStudent">G_s, [B*C2*C1].</param>
    /// <param name="flowTeacher">G_t, [B*C2*C1].</param>
    /// <param name="top">Student top layer, [B*C2*HW].</param>
    /// <param name="gradient">Output, [B*C1*HW].</param>
    /// <param name="bottomChannels">C1.</param>
    /// <param name="topChannels">C2.</param>
    /// <param name="area">The student's HW.</param>
    /// <param name="scale">2 / (B C2 C1 HW).</param>
    public static void BottomGradient(Index1D index, ArrayView<float> flowStudent, ArrayView<float> flowTeacher,
        ArrayView<float> top, ArrayView<float> gradient, int bottomChannels, int topChannels, int area, float scale)
    {
        int row = index / area;
        int k = index - row * area;
        int b = row / bottomChannels;
        int c1 = row - b * bottomChannels;
        long flowOffset = (long)b * topChannels * bottomChannels + c1;
        long topOffset = (long)b * topChannels * area + k;
        float sum = 0f;
        for (int c2 = 0; c2 < topChannels; c2++)
        {
            long e = flowOffset + (long)c2 * bottomChannels;
            sum += (flowStudent[e] - flowTeacher[e]) * top[topOffset + (long)c2 * area];
        }
        gradient[index] = scale * sum;
    }

    /// <summary>One thread per (b, c2, k): d loss / d top = scale sum_c1 (G_s - G_t)[b, c2, c1] bottom[b, c1, k].</summary>
    /// <param name="index">(b * C2 + c2) * HW + k.</param>
    /// <param name="flowStudent">G_s, [B*C2*C1].</param>
    /// <param name="flowTeacher">G_t, [B*C2*C1].</param>
    /// <param name="bottom">Student bottom layer, [B*C1*HW].</param>
    /// <param name="gradient">Output, [B*C2*HW].</param>
    /// <param name="bottomChannels">C1.</param>
    /// <param name="topChannels">C2.</param>
    /// <param name="area">The student's HW.</param>
    /// <param name="scale">2 / (B C2 C1 HW).</param>
    public static void TopGradient(Index1D index, ArrayView<float> flowStudent, ArrayView<float> flowTeacher,
        ArrayView<float> bottom, ArrayView<float> gradient, int bottomChannels, int topChannels, int area, float scale)
    {
        int row = index / area;
        int k = index - row * area;
        int b = row / topChannels;
        int c2 = row - b * topChannels;
        long flowOffset = ((long)b * topChannels + c2) * bottomChannels;
        long bottomOffset = (long)b * bottomChannels * area + k;
        float sum = 0f;
        for (int c1 = 0; c1 < bottomChannels; c1++)
        {
            long e = flowOffset + c1;
            sum += (flowStudent[e] - flowTeacher[e]) * bottom[bottomOffset + (long)c1 * area];
        }
        gradient[index] = scale * sum;
    }
}
