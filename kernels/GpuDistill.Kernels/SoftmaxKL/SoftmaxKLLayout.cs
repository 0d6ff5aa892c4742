namespace GpuDistill.SoftmaxKL;

/// <summary>How the fused KL kernel maps rows to threads.</summary>
public enum SoftmaxKLLayout
{
    /// <summary>Row per thread on the CPU accelerator and for short rows; row per group otherwise.</summary>
    Auto,

    /// <summary>One thread owns a whole row.</summary>
    RowPerThread,

    /// <summary>One group shares a row and reduces its statistics in the group.</summary>
    RowPerGroup,
}
