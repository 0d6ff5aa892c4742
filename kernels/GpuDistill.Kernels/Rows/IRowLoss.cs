namespace GpuDistill.Kernels.Rows;

/// <summary>
/// A fused row loss as a type: a row of student and teacher logits in, that row's loss and the gradient with respect
/// to the student out (and, for a two-sided loss, the gradient with respect to the teacher too). The struct holds the launch's scalars (scales already folded in, so the kernel only
/// multiplies) and its row function; <see cref="RowLossKernels"/> runs that function in both thread layouts, and
/// <see cref="RowLossLauncher{TLoss}"/> launches them. A new row loss is one such struct.
/// </summary>
/// <remarks>
/// The kernels call the row function on the struct itself (a constrained call on a type parameter), so a loss adds no
/// kernel entry points and no launcher of its own.
/// </remarks>
public interface IRowLoss
{
    /// <summary>B, rows of the logits.</summary>
    int Rows { get; }

    /// <summary>C, classes per row.</summary>
    int Classes { get; }

    /// <summary>1 when a label view is given (an int, since kernels take plain fields).</summary>
    int HasLabels { get; }

    /// <summary>Label value that marks a row as padding (no loss, zero gradient, not counted).</summary>
    int IgnoreIndex { get; }

    /// <summary>1/T.</summary>
    float InverseTemperature { get; }

    /// <summary>
    /// False for a loss whose row-per-group kernel is not to be launched on GPUs: <see cref="RowLayout.Auto"/> then
    /// takes a thread per row there, and asking for a group per row is refused.
    /// </summary>
    static virtual bool GroupLayoutOnGpus => true;

    /// <summary>
    /// True for a two-sided loss, which also writes d loss / d z_t into <see cref="RowSlice.TeacherGradient"/> (for a
    /// generator that learns through the teacher's logits); its launch then needs a teacher-gradient view of [B*C].
    /// </summary>
    static virtual bool WritesTeacherGradient => false;

    /// <summary>
    /// Loss and gradient of one counted row (its label is in [0, C), or the launch has no labels): writes the
    /// gradient of this thread's columns (start, start + stride, ...) and returns the row's share of the batch loss.
    /// Every thread that shares the row calls it, and combines its partial sums with <typeparamref name="TCombine"/>.
    /// </summary>
    /// <typeparam name="TCombine">How the row is shared: <see cref="ThreadOwnsRow"/> or <see cref="GroupSharesRow"/>.</typeparam>
    /// <param name="row">The row's place in the arrays and this thread's slice of it.</param>
    /// <param name="label">The row's label, or -1 without labels.</param>
    /// <returns>The row's share of the batch loss (the value of the thread whose slice starts at column 0 is kept).</returns>
    float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine;
}
