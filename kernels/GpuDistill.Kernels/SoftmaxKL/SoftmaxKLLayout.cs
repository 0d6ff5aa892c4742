namespace GpuDistill.SoftmaxKL;

/// <summary>
/// How a fused softened-softmax row kernel maps rows to threads. Every row loss takes it (Hinton KD, reverse KL,
/// JSD, DKD): all of them are row kernels with the same two layouts.
/// </summary>
public enum SoftmaxKLLayout
{
    /// <summary>Row per thread on the CPU accelerator and for short rows; row per group otherwise.</summary>
    Auto,

    /// <summary>One thread owns a whole row.</summary>
    RowPerThread,

    /// <summary>One group shares a row and reduces its statistics in the group.</summary>
    RowPerGroup,
}
