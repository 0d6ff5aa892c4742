using ILGPU;

namespace GpuDistill.Kernels.Rows;

/// <summary>How a row's label decides whether the row counts, shared by every row loss.</summary>
public static class RowLabels
{
    /// <summary>The row counts.</summary>
    public const int Counted = 0;

    /// <summary>The row is padding (label = ignore index): no loss, zero gradient, not in N.</summary>
    public const int Padding = 1;

    /// <summary>The label is outside [0, C): the row's loss is NaN (the bridge rejects such labels before launching).</summary>
    public const int OutOfRange = 2;

    /// <summary>Classifies a row's label.</summary>
    /// <param name="label">The label (ignored without labels).</param>
    /// <param name="hasLabels">1 when labels are given.</param>
    /// <param name="ignoreIndex">Label of a padding row.</param>
    /// <param name="classes">C.</param>
    /// <returns><see cref="Counted"/>, <see cref="Padding"/> or <see cref="OutOfRange"/>.</returns>
    public static int Status(int label, int hasLabels, int ignoreIndex, int classes)
    {
        if (hasLabels == 0) return Counted;
        if (label == ignoreIndex) return Padding;
        return label >= 0 && label < classes ? Counted : OutOfRange;
    }

    /// <summary>The loss of a row that does not count.</summary>
    /// <param name="status"><see cref="Padding"/> or <see cref="OutOfRange"/>.</param>
    /// <returns>0 for padding, NaN for a bad label.</returns>
    public static float SkippedLoss(int status) => status == Padding ? 0f : float.NaN;

    /// <summary>Zeroes columns start, start + stride, ... of a row's gradient.</summary>
    /// <param name="gradient">Output, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    public static void ClearGradient(ArrayView<float> gradient, long offset, int start, int stride, int classes)
    {
        for (int c = start; c < classes; c += stride)
            gradient[offset + c] = 0f;
    }
}
