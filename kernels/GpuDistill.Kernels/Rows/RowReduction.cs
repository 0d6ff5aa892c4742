namespace GpuDistill.Kernels.Rows;

/// <summary>
/// What a two-sided divergence divides its summed rows by (loss-spec-2 section 0): PyTorch's <c>batchmean</c> or its
/// silent default, the elementwise mean (<c>F.kl_div</c> and <c>F.l1_loss</c> with no reduction named).
/// </summary>
public enum RowReduction
{
    /// <summary>Divide by the counted rows N (KL batchmean, DAFL's student loss).</summary>
    BatchMean,

    /// <summary>Divide by N*C (ZSKT's <c>F.kl_div</c>, DFAD's <c>F.l1_loss</c>).</summary>
    ElementwiseMean,
}
