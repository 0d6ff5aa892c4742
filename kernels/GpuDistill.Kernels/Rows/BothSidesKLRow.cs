namespace GpuDistill.Kernels.Rows;

/// <summary>
/// KL(p_t || q_s) at temperature T with the gradient for both logits, for a generator that learns through the teacher
/// as well as the student (DFAD/ZSKT, loss-spec-2 7.3): the counted rows' KL summed and divided by D (N, or N*C for the
/// elementwise mean), no T^2. d/dz_s = (q - p) / (T D); d/dz_t = p (log p - log q - KL_i) / (T D).
/// </summary>
/// <remarks>
/// KL(p || q) is the reverse KL of loss-spec 1.2 with student and teacher swapped, and the teacher-side gradient of
/// the one is the student-side gradient of the other; so this runs <see cref="ReverseKLRow.Compute{TCombine}"/> on the
/// swapped row, which also keeps the teacher gradient accurate where p is peaked (it is centred on the teacher's
/// argmax). Three reads of the row. Labels, when given, only mark padding rows.
/// </remarks>
public readonly struct BothSidesKLRow : IRowLoss
{
    /// <summary>Creates the launch scalars.</summary>
    /// <param name="rows">B, rows of the logits.</param>
    /// <param name="classes">C, classes per row.</param>
    /// <param name="temperature">T &gt; 0.</param>
    /// <param name="reduction">What the summed rows are divided by.</param>
    /// <param name="hasLabels">Whether a label view is given (labels only mark padding rows here).</param>
    /// <param name="ignoreIndex">Label value that marks a row as padding.</param>
    /// <param name="countedRows">Rows whose label is not <paramref name="ignoreIndex"/> (B without labels).</param>
    public BothSidesKLRow(int rows, int classes, float temperature, RowReduction reduction, bool hasLabels,
        int ignoreIndex, int countedRows)
    {
        Rows = rows;
        Classes = classes;
        InverseTemperature = 1f / temperature;
        LossScale = TwoSidedScale.PerRow(reduction, countedRows, classes);
        GradScale = LossScale / temperature;
        HasLabels = hasLabels ? 1 : 0;
        IgnoreIndex = ignoreIndex;
    }

    /// <summary>Writes d loss / d z_t too.</summary>
    public static bool WritesTeacherGradient => true;

    /// <summary>Its row function is the reverse KL's, whose row-per-group kernel is not launched on GPUs (see there).</summary>
    public static bool GroupLayoutOnGpus => false;

    /// <inheritdoc/>
    public int Rows { get; }

    /// <inheritdoc/>
    public int Classes { get; }

    /// <inheritdoc/>
    public float InverseTemperature { get; }

    /// <summary>1 / D: multiplies each row's KL(p || q).</summary>
    public float LossScale { get; }

    /// <summary>1 / (T D): multiplies both gradients.</summary>
    public float GradScale { get; }

    /// <inheritdoc/>
    public int HasLabels { get; }

    /// <inheritdoc/>
    public int IgnoreIndex { get; }

    /// <inheritdoc/>
    public float Process<TCombine>(in RowSlice row, int label) where TCombine : struct, IRowCombine
    {
        // The teacher plays the reverse KL's student: its gradient goes where that writes the student's, and the
        // student's gradient, (q - p) / (T D), is what that writes for its teacher.
        var swapped = new RowSlice(row.Teacher, row.Student, row.TeacherGradient, row.Gradient, row.Offset, row.Start,
            row.Stride, row.Classes);
        return ReverseKLRow.Compute<TCombine>(swapped, InverseTemperature, LossScale, GradScale, withTeacherGradient: true);
    }
}
