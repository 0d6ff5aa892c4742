namespace GpuDistill.Kernels.Rows;

/// <summary>How a fused row-loss kernel maps rows to threads; every row loss has both layouts.</summary>
public enum RowLayout
{
    /// <summary>Row per thread on the CPU accelerator and for short rows; row per group otherwise.</summary>
    Auto,

    /// <summary>One thread owns a whole row.</summary>
    RowPerThread,

    /// <summary>One group shares a row and reduces its statistics in the group.</summary>
    RowPerGroup,
}
