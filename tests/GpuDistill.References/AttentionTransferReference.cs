using GpuDistill.Kernels.AttentionTransfer;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of attention transfer (loss-spec 2.2), written plainly from the definitions on NCHW arrays:
/// v[b, k] = s sum_c |f[b, c, k]|^p (s = 1/C for the code form, 1 for the paper form), a = v / max(||v||, 1e-12),
/// code loss = sum_b ||a_s,b - a_t,b||^2 / (B H W), paper loss = sum_b ||a_s,b - a_t,b|| / B. Gradients by the chain
/// rule through each step, with the same conventions as the kernels: d|f|^p/df = 0 at f = 0, the paper form's
/// gradient is 0 where a_s,b = a_t,b, and below the floor the normalisation's Jacobian is 1/eps.
/// </summary>
public static class AttentionTransferReference
{
    public const double Epsilon = 1e-12;

    /// <summary>The attention maps [B, H*W] of a feature [B, C, H*W].</summary>
    public static double[] Map(double[] feature, int batch, int channels, int positions, double p, AttentionTransferForm form)
    {
        double[] v = ChannelSums(feature, batch, channels, positions, p, form);
        var map = new double[v.Length];
        for (int b = 0; b < batch; b++)
        {
            double denominator = Math.Max(Norm(v, b, positions), Epsilon);
            for (int k = 0; k < positions; k++) map[b * positions + k] = v[b * positions + k] / denominator;
        }
        return map;
    }

    /// <summary>Loss and d loss / d student of attention transfer between features of one B and H*W.</summary>
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int batch,
        int studentChannels, int teacherChannels, int positions, double p, AttentionTransferForm form)
    {
        double[] mapS = Map(student, batch, studentChannels, positions, p, form);
        double[] mapT = Map(teacher, batch, teacherChannels, positions, p, form);
        double loss = 0;
        var mapGradient = new double[mapS.Length]; // d loss / d a_s
        for (int b = 0; b < batch; b++)
        {
            double squares = 0;
            for (int k = 0; k < positions; k++)
            {
                double d = mapS[b * positions + k] - mapT[b * positions + k];
                squares += d * d;
            }
            double distance = Math.Sqrt(squares);
            loss += form == AttentionTransferForm.Paper ? distance / batch : squares / ((double)batch * positions);
            for (int k = 0; k < positions; k++)
            {
                double d = mapS[b * positions + k] - mapT[b * positions + k];
                mapGradient[b * positions + k] = form == AttentionTransferForm.Paper
                    ? (distance > 0 ? d / (batch * distance) : 0)
                    : 2 * d / ((double)batch * positions);
            }
        }
        return (loss, MapBackward(student, mapGradient, batch, studentChannels, positions, p, form));
    }

    /// <summary>d (sum G * map(f)) / d f: the map's backward for an upstream gradient G [B, H*W].</summary>
    public static double[] MapBackward(double[] feature, double[] upstream, int batch, int channels, int positions,
        double p, AttentionTransferForm form)
    {
        double[] v = ChannelSums(feature, batch, channels, positions, p, form);
        double scale = ChannelScale(channels, form);
        var gradient = new double[feature.Length];
        for (int b = 0; b < batch; b++)
        {
            double norm = Norm(v, b, positions);
            // d a / d v: (I - a a^T) / ||v|| above the floor, I / eps below it (F.normalize's clamp).
            var gv = new double[positions];
            if (norm > Epsilon)
            {
                double dot = 0;
                for (int k = 0; k < positions; k++) dot += v[b * positions + k] / norm * upstream[b * positions + k];
                for (int k = 0; k < positions; k++)
                    gv[k] = (upstream[b * positions + k] - v[b * positions + k] / norm * dot) / norm;
            }
            else
            {
                for (int k = 0; k < positions; k++) gv[k] = upstream[b * positions + k] / Epsilon;
            }
            for (int c = 0; c < channels; c++)
            {
                for (int k = 0; k < positions; k++)
                {
                    long i = ((long)b * channels + c) * positions + k;
                    gradient[i] = gv[k] * scale * PowerDerivative(feature[i], p);
                }
            }
        }
        return gradient;
    }

    /// <summary>
    /// The natural size of the gradient entries of <see cref="Compute"/> (or of <see cref="MapBackward"/> for an
    /// upstream gradient of size <paramref name="upstreamSize"/>): per example, d loss / d a of unit size (1/B for the
    /// paper form, 2/(B H W) for the code form) carried through 1 / max(||v||, eps) and the largest s p |f|^(p-1)
    /// over the example's non-zero entries. Gradients that vanish (equal maps, maps of one position) are measured
    /// against it.
    /// </summary>
    public static double GradientScale(double[] student, int batch, int channels, int positions, double p,
        AttentionTransferForm form, double? upstreamSize = null)
    {
        double[] v = ChannelSums(student, batch, channels, positions, p, form);
        double unit = upstreamSize ?? (form == AttentionTransferForm.Paper ? 1.0 / batch : 2.0 / ((double)batch * positions));
        double scale = 0;
        for (int b = 0; b < batch; b++)
        {
            double largest = 0;
            for (long i = (long)b * channels * positions; i < (long)(b + 1) * channels * positions; i++)
                if (student[i] != 0) largest = Math.Max(largest, Math.Abs(PowerDerivative(student[i], p)));
            scale = Math.Max(scale, unit / Math.Max(Norm(v, b, positions), Epsilon) * ChannelScale(channels, form) * largest);
        }
        return scale;
    }

    public static (double Loss, double[] Gradient) Compute(float[] student, float[] teacher, int batch,
        int studentChannels, int teacherChannels, int positions, double p, AttentionTransferForm form) =>
        Compute(ReferenceMath.ToDouble(student), ReferenceMath.ToDouble(teacher), batch, studentChannels,
            teacherChannels, positions, p, form);

    private static double[] ChannelSums(double[] feature, int batch, int channels, int positions, double p,
        AttentionTransferForm form)
    {
        if (feature.Length != (long)batch * channels * positions)
            throw new ArgumentException("feature length is not B*C*H*W.", nameof(feature));
        double scale = ChannelScale(channels, form);
        var v = new double[batch * positions];
        for (int b = 0; b < batch; b++)
        {
            for (int k = 0; k < positions; k++)
            {
                double sum = 0;
                for (int c = 0; c < channels; c++)
                    sum += Math.Pow(Math.Abs(feature[((long)b * channels + c) * positions + k]), p);
                v[b * positions + k] = scale * sum;
            }
        }
        return v;
    }

    private static double ChannelScale(int channels, AttentionTransferForm form) =>
        form == AttentionTransferForm.Paper ? 1.0 : 1.0 / channels;

    private static double Norm(double[] v, int b, int positions)
    {
        double squares = 0;
        for (int k = 0; k < positions; k++) squares += v[b * positions + k] * v[b * positions + k];
        return Math.Sqrt(squares);
    }

    /// <summary>p |x|^(p-1) sign(x), and 0 at x = 0.</summary>
    private static double PowerDerivative(double x, double p) =>
        x == 0 ? 0 : p * Math.Pow(Math.Abs(x), p - 1) * Math.Sign(x);
}
