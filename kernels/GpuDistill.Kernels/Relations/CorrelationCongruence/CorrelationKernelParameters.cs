namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>The correlation kernel as plain fields a kernel can take, with its value and slope at a dot product.</summary>
public readonly struct CorrelationKernelParameters
{
    /// <summary>Creates the parameters.</summary>
    /// <param name="kernel">Bilinear or Gaussian.</param>
    /// <param name="gamma">The Gaussian's gamma (unused for bilinear).</param>
    /// <param name="order">P, the Taylor order (unused for bilinear).</param>
    public CorrelationKernelParameters(CorrelationKernel kernel, double gamma, int order)
    {
        Gaussian = kernel == CorrelationKernel.Gaussian ? 1 : 0;
        TwoGamma = (float)(2 * gamma);
        Damping = (float)Math.Exp(-2 * gamma);
        Order = order;
    }

    /// <summary>1 for the Taylor-Gaussian kernel, 0 for bilinear (an int, since kernels take plain fields).</summary>
    public int Gaussian { get; }

    /// <summary>2 gamma.</summary>
    public float TwoGamma { get; }

    /// <summary>exp(-2 gamma).</summary>
    public float Damping { get; }

    /// <summary>P.</summary>
    public int Order { get; }

    /// <summary>k at dot product g: g, or exp(-2 gamma) sum_{p=0..P} (2 gamma g)^p / p!.</summary>
    /// <param name="g">dot(x, y).</param>
    /// <returns>The correlation.</returns>
    public float Value(float g)
    {
        if (Gaussian == 0) return g;
        float term = 1f, sum = 1f, x = TwoGamma * g;
        for (int p = 1; p <= Order; p++)
        {
            term *= x / p;
            sum += term;
        }
        return Damping * sum;
    }

    /// <summary>dk/dg: 1, or 2 gamma exp(-2 gamma) sum_{q=0..P-1} (2 gamma g)^q / q!.</summary>
    /// <param name="g">dot(x, y).</param>
    /// <returns>The slope.</returns>
    public float Slope(float g)
    {
        if (Gaussian == 0) return 1f;
        float term = 1f, sum = Order >= 1 ? 1f : 0f, x = TwoGamma * g;
        for (int q = 1; q < Order; q++)
        {
            term *= x / q;
            sum += term;
        }
        return TwoGamma * Damping * sum;
    }
}
