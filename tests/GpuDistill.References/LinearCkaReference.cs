namespace GpuDistill.References;

/// <summary>
/// Float64 reference of linear CKA and HSIC (loss-spec-2 12.1), plain loops from the definitions: the kernel form
/// HSIC(K, L) = tr(K H L H) with K = X X^T, L = Y Y^T and H = I - (1/n) 1 1^T built as matrices; the feature-space form
/// ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F); the unbiased HSIC_1 of Song et al. 2012; minibatch CKA.
/// Feature matrices are [n * p] row-major.
/// </summary>
public static class LinearCkaReference
{
    /// <summary>
    /// tr(K H L H) of two n x n matrices, by explicit products with the centring matrix H. This is HSIC times
    /// (n-1)^2, the scale of the kernels' terms; CKA does not depend on it.
    /// </summary>
    public static double BiasedHsic(double[] k, double[] l, int n)
    {
        double[] h = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < n; j++) h[i * n + j] = (i == j ? 1.0 : 0.0) - 1.0 / n;
        }
        double[] khlh = Product(Product(Product(k, h, n), l, n), h, n);
        double trace = 0;
        for (int i = 0; i < n; i++) trace += khlh[i * n + i];
        return trace;
    }

    /// <summary>The biased terms (cross, self X, self Y) of the kernel form, from the features.</summary>
    public static (double Cross, double SelfX, double SelfY) BiasedTerms(double[] x, double[] y, int n, int widthX, int widthY)
    {
        double[] k = RelationalReferenceMath.Gram(x, n, widthX);
        double[] l = RelationalReferenceMath.Gram(y, n, widthY);
        return (BiasedHsic(k, l, n), BiasedHsic(k, k, n), BiasedHsic(l, l, n));
    }

    /// <summary>Linear CKA by the kernel form: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)).</summary>
    public static double Cka(double[] x, double[] y, int n, int widthX, int widthY)
    {
        (double cross, double selfX, double selfY) = BiasedTerms(x, y, n, widthX, widthY);
        return cross / Math.Sqrt(selfX * selfY);
    }

    /// <summary>Linear CKA by the feature-space form, with the columns centred explicitly.</summary>
    public static double FeatureSpaceCka(double[] x, double[] y, int n, int widthX, int widthY)
    {
        double[] xc = Centre(x, n, widthX), yc = Centre(y, n, widthY);
        double cross = SquaredFrobeniusOfTransposeProduct(yc, widthY, xc, widthX, n);
        double selfX = SquaredFrobeniusOfTransposeProduct(xc, widthX, xc, widthX, n);
        double selfY = SquaredFrobeniusOfTransposeProduct(yc, widthY, yc, widthY, n);
        return cross / (Math.Sqrt(selfX) * Math.Sqrt(selfY));
    }

    /// <summary>
    /// HSIC_1(K, L) = [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3)), K~ and L~ with
    /// zero diagonals, n &gt; 3; 1^T K~ L~ 1 as the full product, not the (K~ 1)^T (L~ 1) shortcut the kernels use.
    /// </summary>
    public static double UnbiasedHsic(double[] k, double[] l, int n)
    {
        if (n <= 3) throw new ArgumentOutOfRangeException(nameof(n), n, "HSIC_1 needs n > 3.");
        double[] kt = ZeroDiagonal(k, n), lt = ZeroDiagonal(l, n);
        double[] kl = Product(kt, lt, n);
        double trace = 0, sumK = 0, sumL = 0, sumKL = 0;
        for (int i = 0; i < n; i++)
        {
            trace += kl[i * n + i];
            for (int j = 0; j < n; j++)
            {
                sumK += kt[i * n + j];
                sumL += lt[i * n + j];
                sumKL += kl[i * n + j];
            }
        }
        return (trace + sumK * sumL / ((n - 1.0) * (n - 2.0)) - 2.0 / (n - 2.0) * sumKL) / ((double)n * (n - 3.0));
    }

    /// <summary>The unbiased terms HSIC_1(K, L), HSIC_1(K, K), HSIC_1(L, L) of the uncentred features.</summary>
    public static (double Cross, double SelfX, double SelfY) UnbiasedTerms(double[] x, double[] y, int n, int widthX, int widthY)
    {
        double[] k = RelationalReferenceMath.Gram(x, n, widthX);
        double[] l = RelationalReferenceMath.Gram(y, n, widthY);
        return (UnbiasedHsic(k, l, n), UnbiasedHsic(k, k, n), UnbiasedHsic(l, l, n));
    }

    /// <summary>CKA_mb = sum_k HSIC_1(K_k, L_k) / sqrt(sum_k HSIC_1(K_k, K_k) sum_k HSIC_1(L_k, L_k)).</summary>
    public static double MinibatchCka(IEnumerable<(double[] X, double[] Y, int Rows)> batches, int widthX, int widthY)
    {
        double cross = 0, selfX = 0, selfY = 0;
        foreach ((double[] x, double[] y, int rows) in batches)
        {
            (double c, double sx, double sy) = UnbiasedTerms(x, y, rows, widthX, widthY);
            cross += c;
            selfX += sx;
            selfY += sy;
        }
        return cross / Math.Sqrt(selfX * selfY);
    }

    /// <summary>X with its column means subtracted.</summary>
    public static double[] Centre(double[] features, int n, int width)
    {
        var centred = new double[features.Length];
        for (int d = 0; d < width; d++)
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += features[i * width + d];
            mean /= n;
            for (int i = 0; i < n; i++) centred[i * width + d] = features[i * width + d] - mean;
        }
        return centred;
    }

    /// <summary>||A^T B||_F^2 for A [n, a] and B [n, b].</summary>
    private static double SquaredFrobeniusOfTransposeProduct(double[] a, int widthA, double[] b, int widthB, int n)
    {
        double total = 0;
        for (int p = 0; p < widthA; p++)
        {
            for (int q = 0; q < widthB; q++)
            {
                double entry = 0;
                for (int i = 0; i < n; i++) entry += a[i * widthA + p] * b[i * widthB + q];
                total += entry * entry;
            }
        }
        return total;
    }

    private static double[] ZeroDiagonal(double[] m, int n)
    {
        double[] copy = (double[])m.Clone();
        for (int i = 0; i < n; i++) copy[i * n + i] = 0;
        return copy;
    }

    private static double[] Product(double[] a, double[] b, int n)
    {
        var c = new double[n * n];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < n; k++)
            {
                double aik = a[i * n + k];
                for (int j = 0; j < n; j++) c[i * n + j] += aik * b[k * n + j];
            }
        }
        return c;
    }
}
