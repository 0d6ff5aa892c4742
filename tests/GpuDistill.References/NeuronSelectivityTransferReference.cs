namespace GpuDistill.References;

/// <summary>The shape [B, C, H, W] of a row-major feature map.</summary>
public readonly record struct MapShape(int Batch, int Channels, int Height, int Width)
{
    public int Count => Batch * Channels * Height * Width;

    public long[] Dims => [Batch, Channels, Height, Width];
}

/// <summary>
/// Float64 reference of NST (loss-spec 2.3), in plain loops: both maps average-pooled to the smaller height and
/// width (adaptive_avg_pool2d's windows), channel rows normalised by max(||row||, 1e-12),
/// L = mean k(t, t) + mean k(s, s) - 2 mean k(s, t) with k(x, y) = dot(x, y)^2, each mean over its B C C' entries;
/// the gradient is the spec's gS = 4/(B C_s^2) (S S^T) S - 4/(B C_s C_t) (S T^T) T, chained through the
/// normalisation and the pooling.
/// </summary>
public static class NeuronSelectivityTransferReference
{
    public const double NormalizeEpsilon = 1e-12;

    /// <summary>The loss, its gradient with respect to the student map, and tt + ss + 2 st (the size of its terms).</summary>
    public static (double Loss, double[] Gradient, double Magnitude) Compute(
        double[] student, MapShape studentShape, double[] teacher, MapShape teacherShape)
    {
        int batch = studentShape.Batch, cs = studentShape.Channels, ct = teacherShape.Channels;
        int height = Math.Min(studentShape.Height, teacherShape.Height);
        int width = Math.Min(studentShape.Width, teacherShape.Width);
        int hw = height * width;

        double[] s = AdaptiveAvgPool(student, studentShape, height, width);
        double[] t = AdaptiveAvgPool(teacher, teacherShape, height, width);
        (double[] sHat, double[] sNorm) = NormalizeRows(s, batch * cs, hw);
        (double[] tHat, _) = NormalizeRows(t, batch * ct, hw);

        double tt = 0, ss = 0, st = 0;
        var gHat = new double[sHat.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int i = 0; i < ct; i++)
            {
                for (int j = 0; j < ct; j++)
                {
                    double d = Dot(tHat, (b * ct + i) * hw, tHat, (b * ct + j) * hw, hw);
                    tt += d * d / ((double)batch * ct * ct);
                }
            }
            for (int i = 0; i < cs; i++)
            {
                int row = (b * cs + i) * hw;
                for (int j = 0; j < cs; j++)
                {
                    int other = (b * cs + j) * hw;
                    double d = Dot(sHat, row, sHat, other, hw);
                    ss += d * d / ((double)batch * cs * cs);
                    for (int k = 0; k < hw; k++) gHat[row + k] += 4.0 / ((double)batch * cs * cs) * d * sHat[other + k];
                }
                for (int j = 0; j < ct; j++)
                {
                    int other = (b * ct + j) * hw;
                    double d = Dot(sHat, row, tHat, other, hw);
                    st += d * d / ((double)batch * cs * ct);
                    for (int k = 0; k < hw; k++) gHat[row + k] -= 4.0 / ((double)batch * cs * ct) * d * tHat[other + k];
                }
            }
        }

        // Through x / max(||x||, eps): (g - x^ dot(x^, g)) / ||x|| above the floor, g / eps on it.
        var gPooled = new double[s.Length];
        for (int r = 0; r < batch * cs; r++)
        {
            int row = r * hw;
            if (sNorm[r] > NormalizeEpsilon)
            {
                double along = Dot(sHat, row, gHat, row, hw);
                for (int k = 0; k < hw; k++) gPooled[row + k] = (gHat[row + k] - sHat[row + k] * along) / sNorm[r];
            }
            else
            {
                for (int k = 0; k < hw; k++) gPooled[row + k] = gHat[row + k] / NormalizeEpsilon;
            }
        }

        double[] gradient = AdaptiveAvgPoolBackward(gPooled, studentShape, height, width);
        return (tt + ss - 2 * st, gradient, tt + ss + 2 * st);
    }

    /// <summary>
    /// adaptive_avg_pool2d of a [B, C, H, W] map to [B, C, height, width]: output cell i averages input rows
    /// [floor(i H / height), ceil((i + 1) H / height)), and likewise along the width. Returns the map itself when
    /// the size already matches.
    /// </summary>
    public static double[] AdaptiveAvgPool(double[] map, MapShape shape, int height, int width)
    {
        if (shape.Height == height && shape.Width == width) return (double[])map.Clone();
        var pooled = new double[shape.Batch * shape.Channels * height * width];
        for (int plane = 0; plane < shape.Batch * shape.Channels; plane++)
        {
            for (int oy = 0; oy < height; oy++)
            {
                (int y0, int y1) = Window(oy, shape.Height, height);
                for (int ox = 0; ox < width; ox++)
                {
                    (int x0, int x1) = Window(ox, shape.Width, width);
                    double sum = 0;
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) sum += map[(plane * shape.Height + y) * shape.Width + x];
                    pooled[(plane * height + oy) * width + ox] = sum / ((y1 - y0) * (x1 - x0));
                }
            }
        }
        return pooled;
    }

    /// <summary>The gradient of <see cref="AdaptiveAvgPool"/>: each output cell's gradient shared equally over its window.</summary>
    public static double[] AdaptiveAvgPoolBackward(double[] gradient, MapShape shape, int height, int width)
    {
        if (shape.Height == height && shape.Width == width) return gradient;
        var input = new double[shape.Count];
        for (int plane = 0; plane < shape.Batch * shape.Channels; plane++)
        {
            for (int oy = 0; oy < height; oy++)
            {
                (int y0, int y1) = Window(oy, shape.Height, height);
                for (int ox = 0; ox < width; ox++)
                {
                    (int x0, int x1) = Window(ox, shape.Width, width);
                    double share = gradient[(plane * height + oy) * width + ox] / ((y1 - y0) * (x1 - x0));
                    for (int y = y0; y < y1; y++)
                        for (int x = x0; x < x1; x++) input[(plane * shape.Height + y) * shape.Width + x] += share;
                }
            }
        }
        return input;
    }

    /// <summary>Rows of length <paramref name="length"/> divided by max(||row||, 1e-12), and each row's norm.</summary>
    public static (double[] Unit, double[] Norms) NormalizeRows(double[] values, int rows, int length)
    {
        var unit = new double[values.Length];
        var norms = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            norms[r] = Math.Sqrt(Dot(values, r * length, values, r * length, length));
            double divisor = Math.Max(norms[r], NormalizeEpsilon);
            for (int k = 0; k < length; k++) unit[r * length + k] = values[r * length + k] / divisor;
        }
        return (unit, norms);
    }

    private static (int Start, int End) Window(int index, int inputSize, int outputSize) =>
        (index * inputSize / outputSize, ((index + 1) * inputSize + outputSize - 1) / outputSize);

    private static double Dot(double[] a, int aOffset, double[] b, int bOffset, int length)
    {
        double sum = 0;
        for (int k = 0; k < length; k++) sum += a[aOffset + k] * b[bOffset + k];
        return sum;
    }
}
