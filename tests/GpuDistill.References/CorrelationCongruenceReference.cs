using static GpuDistill.References.RelationalReferenceMath;

namespace GpuDistill.References;

/// <summary>Float64 references of both correlation congruence definitions (loss-spec 3.4), plain loops.</summary>
public static class CorrelationCongruenceReference
{
    /// <summary>
    /// RepDistiller (3.4a): delta = |f_s - f_t|, L = mean_{i=0..B-2} sum_d delta_i,d delta_i+1,d; the gradient
    /// with respect to f_s is sign(f_s - f_t) (delta_i-1 + delta_i+1) / (B - 1) (that of f_t is its negative).
    /// </summary>
    public static (double Loss, double[] Gradient) RepDistiller(double[] student, double[] teacher, int batch, int width)
    {
        var delta = new double[student.Length];
        for (int e = 0; e < delta.Length; e++) delta[e] = Math.Abs(student[e] - teacher[e]);
        double loss = 0;
        for (int i = 0; i + 1 < batch; i++)
        for (int d = 0; d < width; d++)
            loss += delta[i * width + d] * delta[(i + 1) * width + d] / (batch - 1);

        var gradient = new double[student.Length];
        for (int i = 0; i < batch; i++)
        for (int d = 0; d < width; d++)
        {
            double neighbours = (i > 0 ? delta[(i - 1) * width + d] : 0) + (i + 1 < batch ? delta[(i + 1) * width + d] : 0);
            gradient[i * width + d] = Math.Sign(student[i * width + d] - teacher[i * width + d]) * neighbours / (batch - 1);
        }
        return (loss, gradient);
    }

    /// <summary>
    /// torchdistill (3.4b): C = k(F F^T) elementwise with k(g) = g or exp(-2 gamma) sum_{p=0..P} (2 gamma g)^p / p!,
    /// L = ||C_s - C_t||_F / B^2; gradient (dC + dC^T) F after dC = (C_s - C_t) k'(G_s) / (||.||_F B^2), 0 where the
    /// norm is 0.
    /// </summary>
    public static (double Loss, double[] Gradient) Kernel(double[] student, double[] teacher, int batch,
        int studentWidth, int teacherWidth, bool gaussian, double gamma, int order)
    {
        double[] gs = Gram(student, batch, studentWidth), gt = Gram(teacher, batch, teacherWidth);
        var diff = new double[gs.Length];
        double squares = 0;
        for (int e = 0; e < gs.Length; e++)
        {
            diff[e] = Correlation(gs[e], gaussian, gamma, order) - Correlation(gt[e], gaussian, gamma, order);
            squares += diff[e] * diff[e];
        }
        double norm = Math.Sqrt(squares);
        double scale = 1.0 / ((double)batch * batch);
        var gramGradient = new double[gs.Length];
        if (norm > 0)
        {
            for (int e = 0; e < gs.Length; e++)
                gramGradient[e] = diff[e] / norm * scale * CorrelationSlope(gs[e], gaussian, gamma, order);
        }
        return (norm * scale, SymmetricProduct(gramGradient, student, batch, studentWidth));
    }

    /// <summary>
    /// The scale of the terms the kernel loss subtracts, max(||C_s||_F, ||C_t||_F) / B^2: the loss floor of a test,
    /// since a loss far below it is float32 cancellation (B = 1 leaves one entry each: |k(g_s) - k(g_t)|).
    /// </summary>
    public static double KernelScale(double[] student, double[] teacher, int batch, int studentWidth, int teacherWidth,
        bool gaussian, double gamma, int order)
    {
        double Norm(double[] gram) => Math.Sqrt(gram.Sum(g => Math.Pow(Correlation(g, gaussian, gamma, order), 2)));
        return Math.Max(Norm(Gram(student, batch, studentWidth)), Norm(Gram(teacher, batch, teacherWidth)))
               / ((double)batch * batch);
    }

    /// <summary>k(g) written as the series term by term.</summary>
    public static double Correlation(double g, bool gaussian, double gamma, int order)
    {
        if (!gaussian) return g;
        double sum = 0;
        for (int p = 0; p <= order; p++) sum += Math.Pow(2 * gamma, p) / Factorial(p) * Math.Pow(g, p);
        return Math.Exp(-2 * gamma) * sum;
    }

    /// <summary>k'(g), the series differentiated term by term.</summary>
    public static double CorrelationSlope(double g, bool gaussian, double gamma, int order)
    {
        if (!gaussian) return 1;
        double sum = 0;
        for (int p = 1; p <= order; p++) sum += Math.Pow(2 * gamma, p) / Factorial(p) * p * Math.Pow(g, p - 1);
        return Math.Exp(-2 * gamma) * sum;
    }

    private static double Factorial(int p)
    {
        double f = 1;
        for (int i = 2; i <= p; i++) f *= i;
        return f;
    }
}
