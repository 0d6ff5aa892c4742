using static GpuDistill.References.RelationalReferenceMath;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the RKD distance loss (loss-spec 3.1): d_ij = sqrt(max(||e_i - e_j||^2, 1e-12)) off the
/// diagonal (written as a sum of squared differences, which equals the spec's |e_i|^2 + |e_j|^2 - 2 e_i.e_j without
/// its cancellation), mu = mean of the d &gt; 0, L = mean over B^2 of smooth_l1(d_s/mu_s - d_t/mu_t); the spec's
/// gradient, with no gradient through clamped pairs.
/// </summary>
public static class RelationalDistanceReference
{
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int batch,
        int studentWidth, int teacherWidth)
    {
        (double[] ds, bool[] clamped) = Distances(student, batch, studentWidth);
        (double[] dt, _) = Distances(teacher, batch, teacherWidth);
        (double muS, int count) = PositiveMean(ds);
        (double muT, _) = PositiveMean(dt);
        double scale = 1.0 / ((double)batch * batch);

        double loss = 0, moment = 0;
        var g = new double[batch * batch];
        for (int e = 0; e < g.Length; e++)
        {
            double x = ds[e] / muS - dt[e] / muT;
            loss += scale * SmoothL1(x);
            g[e] = scale * SmoothL1Slope(x);
            moment += g[e] * ds[e];
        }

        var gradient = new double[batch * studentWidth];
        for (int k = 0; k < batch; k++)
        for (int l = 0; l < batch; l++)
        {
            int kl = k * batch + l;
            if (k == l || clamped[kl]) continue;
            double gkl = g[kl] / muS - moment / (count * muS * muS);
            double glk = g[l * batch + k] / muS - moment / (count * muS * muS);
            for (int d = 0; d < studentWidth; d++)
                gradient[k * studentWidth + d] += (gkl + glk) * (student[k * studentWidth + d] - student[l * studentWidth + d]) / ds[kl];
        }
        return (loss, gradient);
    }

    /// <summary>The loss alone (for finite differences).</summary>
    public static double Loss(double[] student, double[] teacher, int batch, int studentWidth, int teacherWidth) =>
        Compute(student, teacher, batch, studentWidth, teacherWidth).Loss;

    private static (double[] Distances, bool[] Clamped) Distances(double[] e, int batch, int width)
    {
        var d = new double[batch * batch];
        var clamped = new bool[batch * batch];
        for (int i = 0; i < batch; i++)
        for (int j = 0; j < batch; j++)
        {
            if (i == j) continue;
            double sq = 0;
            for (int c = 0; c < width; c++) sq += (e[i * width + c] - e[j * width + c]) * (e[i * width + c] - e[j * width + c]);
            clamped[i * batch + j] = sq < 1e-12;
            d[i * batch + j] = Math.Sqrt(Math.Max(sq, 1e-12));
        }
        return (d, clamped);
    }

    private static (double Mean, int Count) PositiveMean(double[] d)
    {
        double sum = 0;
        int count = 0;
        foreach (double v in d)
        {
            if (v <= 0) continue;
            sum += v;
            count++;
        }
        return (sum / count, count);
    }
}
