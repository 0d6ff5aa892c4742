namespace GpuDistill.Kernels.Relations.CorrelationCongruence;

/// <summary>The kernel k(x, y) torchdistill's correlation congruence builds its B x B correlation matrix with.</summary>
public enum CorrelationKernel
{
    /// <summary>k(x, y) = dot(x, y): C = F F^T.</summary>
    Bilinear,

    /// <summary>
    /// The P-th order Taylor series of a Gaussian RBF: k(x, y) = exp(-2 gamma) sum_{p=0..P} (2 gamma)^p / p! dot(x, y)^p.
    /// </summary>
    Gaussian,
}
