using ILGPU;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// One row of a fused row-loss launch as one thread sees it: the arrays, where the row starts, and the columns this
/// thread handles (start, start + stride, ... below C). A thread per row has start 0 and stride 1; a group per row
/// has start = thread index and stride = group size.
/// </summary>
/// <param name="student">Student logits, [B*C] row-major.</param>
/// <param name="teacher">Teacher logits, [B*C] row-major.</param>
/// <param name="gradient">Output d loss / d z_s, [B*C].</param>
/// <param name="teacherGradient">
/// Output d loss / d z_t, [B*C], for a loss that writes one (<see cref="IRowLoss.WritesTeacherGradient"/>); a
/// one-element placeholder otherwise.
/// </param>
/// <param name="offset">Index of the row's first element.</param>
/// <param name="start">First column of this thread's slice.</param>
/// <param name="stride">Column step.</param>
/// <param name="classes">C.</param>
public readonly struct RowSlice(ArrayView<float> student, ArrayView<float> teacher, ArrayView<float> gradient,
    ArrayView<float> teacherGradient, long offset, int start, int stride, int classes)
{
    /// <summary>Student logits, [B*C].</summary>
    public readonly ArrayView<float> Student = student;

    /// <summary>Teacher logits, [B*C].</summary>
    public readonly ArrayView<float> Teacher = teacher;

    /// <summary>Output gradient, [B*C].</summary>
    public readonly ArrayView<float> Gradient = gradient;

    /// <summary>Output gradient with respect to the teacher, [B*C] (a placeholder for one-sided losses).</summary>
    public readonly ArrayView<float> TeacherGradient = teacherGradient;

    /// <summary>Index of the row's first element.</summary>
    public readonly long Offset = offset;

    /// <summary>First column of this thread's slice.</summary>
    public readonly int Start = start;

    /// <summary>Column step.</summary>
    public readonly int Stride = stride;

    /// <summary>C.</summary>
    public readonly int Classes = classes;
}
