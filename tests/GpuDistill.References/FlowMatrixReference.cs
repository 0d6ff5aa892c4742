namespace GpuDistill.References;

/// <summary>
/// Float64 reference of FSP (loss-spec 3.3): G[b, c2, c1] = (1/HW) sum_k top[b, c2, k] bottom[b, c1, k],
/// L = mean over B C2 C1 of (G_s - G_t)^2, and the gradients of both student layers. Maps are [B, C, H, W]; within a
/// network the larger map is average-pooled to the smaller per dimension (here only by whole blocks, which is what
/// adaptive average pooling does when the sizes divide), and the gradient is spread back over each block.
/// </summary>
public static class FlowMatrixReference
{
    /// <summary>A feature map [B, C, H, W] in float64.</summary>
    public sealed record Map(double[] Values, int Batch, int Channels, int Height, int Width);

    public static (double Loss, double[] BottomGradient, double[] TopGradient) Compute(Map studentBottom, Map studentTop,
        Map teacherBottom, Map teacherTop)
    {
        (Map sb, Map st) = PoolPair(studentBottom, studentTop);
        (Map tb, Map tt) = PoolPair(teacherBottom, teacherTop);
        double[] gs = Flow(sb, st), gt = Flow(tb, tt);
        int batch = sb.Batch, c1 = sb.Channels, c2 = st.Channels, area = sb.Height * sb.Width;
        double count = (double)batch * c1 * c2;

        double loss = 0;
        for (int e = 0; e < gs.Length; e++) loss += (gs[e] - gt[e]) * (gs[e] - gt[e]) / count;

        var dBottom = new double[sb.Values.Length];
        var dTop = new double[st.Values.Length];
        for (int b = 0; b < batch; b++)
        for (int y = 0; y < c2; y++)
        for (int x = 0; x < c1; x++)
        {
            int e = (b * c2 + y) * c1 + x;
            double h = 2 * (gs[e] - gt[e]) / count;
            for (int k = 0; k < area; k++)
            {
                dBottom[(b * c1 + x) * area + k] += h * st.Values[(b * c2 + y) * area + k] / area;
                dTop[(b * c2 + y) * area + k] += h * sb.Values[(b * c1 + x) * area + k] / area;
            }
        }
        return (loss, Unpool(dBottom, sb, studentBottom), Unpool(dTop, st, studentTop));
    }

    private static double[] Flow(Map bottom, Map top)
    {
        int area = bottom.Height * bottom.Width;
        var g = new double[bottom.Batch * top.Channels * bottom.Channels];
        for (int b = 0; b < bottom.Batch; b++)
        for (int y = 0; y < top.Channels; y++)
        for (int x = 0; x < bottom.Channels; x++)
        {
            double sum = 0;
            for (int k = 0; k < area; k++)
                sum += top.Values[(b * top.Channels + y) * area + k] * bottom.Values[(b * bottom.Channels + x) * area + k];
            g[(b * top.Channels + y) * bottom.Channels + x] = sum / area;
        }
        return g;
    }

    private static (Map Bottom, Map Top) PoolPair(Map bottom, Map top)
    {
        int h = Math.Min(bottom.Height, top.Height), w = Math.Min(bottom.Width, top.Width);
        return (Pool(bottom, h, w), Pool(top, h, w));
    }

    private static Map Pool(Map map, int h, int w)
    {
        if (map.Height == h && map.Width == w) return map;
        if (map.Height % h != 0 || map.Width % w != 0)
            throw new InvalidOperationException("the reference pools whole blocks only");
        int bh = map.Height / h, bw = map.Width / w;
        var pooled = new double[map.Batch * map.Channels * h * w];
        for (int p = 0; p < map.Batch * map.Channels; p++)
        for (int y = 0; y < map.Height; y++)
        for (int x = 0; x < map.Width; x++)
            pooled[(p * h + y / bh) * w + x / bw] += map.Values[(p * map.Height + y) * map.Width + x] / (bh * bw);
        return new Map(pooled, map.Batch, map.Channels, h, w);
    }

    private static double[] Unpool(double[] gradient, Map pooled, Map original)
    {
        if (pooled.Height == original.Height && pooled.Width == original.Width) return gradient;
        int bh = original.Height / pooled.Height, bw = original.Width / pooled.Width;
        var result = new double[original.Values.Length];
        for (int p = 0; p < original.Batch * original.Channels; p++)
        for (int y = 0; y < original.Height; y++)
        for (int x = 0; x < original.Width; x++)
            result[(p * original.Height + y) * original.Width + x] =
                gradient[(p * pooled.Height + y / bh) * pooled.Width + x / bw] / (bh * bw);
        return result;
    }
}
