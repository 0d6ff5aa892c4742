using static GpuDistill.References.RelationalReferenceMath;

namespace GpuDistill.References;

/// <summary>
/// Float64 reference of the RKD angle loss (loss-spec 3.1), plain loops over every (i, j, k) with the D-vectors
/// themselves: u_ij = (e_j - e_i) / max(||e_j - e_i||, 1e-12), a_ijk = u_ij . u_ik, L = mean over B^3 of
/// smooth_l1(a_s - a_t); the spec's per-anchor gradient.
/// </summary>
public static class RelationalAngleReference
{
    public static (double Loss, double[] Gradient) Compute(double[] student, double[] teacher, int batch,
        int studentWidth, int teacherWidth)
    {
        double scale = 1.0 / ((double)batch * batch * batch);
        double loss = 0;
        var gradient = new double[batch * studentWidth];
        for (int i = 0; i < batch; i++)
        {
            (double[][] us, double[] norms) = Directions(student, i, batch, studentWidth);
            (double[][] ut, _) = Directions(teacher, i, batch, teacherWidth);
            var g = new double[batch, batch];
            for (int j = 0; j < batch; j++)
            for (int k = 0; k < batch; k++)
            {
                double x = Dot(us[j], us[k]) - Dot(ut[j], ut[k]);
                loss += scale * SmoothL1(x);
                g[j, k] = scale * SmoothL1Slope(x);
            }

            for (int j = 0; j < batch; j++)
            {
                var gu = new double[studentWidth];
                for (int k = 0; k < batch; k++)
                for (int d = 0; d < studentWidth; d++)
                    gu[d] += (g[j, k] + g[k, j]) * us[k][d];
                double n = norms[j];
                double projection = n >= 1e-12 ? Dot(us[j], gu) : 0;
                double c = Math.Max(n, 1e-12);
                for (int d = 0; d < studentWidth; d++)
                {
                    double gv = (gu[d] - us[j][d] * projection) / c;
                    gradient[j * studentWidth + d] += gv;
                    gradient[i * studentWidth + d] -= gv;
                }
            }
        }
        return (loss, gradient);
    }

    /// <summary>The loss alone (for finite differences).</summary>
    public static double Loss(double[] student, double[] teacher, int batch, int studentWidth, int teacherWidth) =>
        Compute(student, teacher, batch, studentWidth, teacherWidth).Loss;

    private static (double[][] Directions, double[] Norms) Directions(double[] e, int anchor, int batch, int width)
    {
        var u = new double[batch][];
        var norms = new double[batch];
        for (int j = 0; j < batch; j++)
        {
            u[j] = new double[width];
            double sq = 0;
            for (int d = 0; d < width; d++)
            {
                u[j][d] = e[j * width + d] - e[anchor * width + d];
                sq += u[j][d] * u[j][d];
            }
            norms[j] = Math.Sqrt(sq);
            for (int d = 0; d < width; d++) u[j][d] /= Math.Max(norms[j], 1e-12);
        }
        return (u, norms);
    }

    private static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int d = 0; d < a.Length; d++) sum += a[d] * b[d];
        return sum;
    }
}
