using ILGPU;

namespace GpuDistill.Kernels.Rows;

/// <summary>
/// The log-normalisers of student and teacher over one row, gathered in one online pass, for the losses whose row
/// terms are not linear in the softmax weights (reverse KL, JSD) and so need them before they can sum anything.
/// </summary>
public struct SoftmaxPair
{
    /// <summary>Statistics of the student logits.</summary>
    public SoftmaxSums Student;

    /// <summary>Statistics of the teacher logits.</summary>
    public SoftmaxSums Teacher;

    /// <summary>The teacher logit in the column of the largest student logit seen so far (first one on ties).</summary>
    public float TeacherAtStudentMax;

    /// <summary>Reads this thread's slice of the row once and combines the slices of the threads sharing it.</summary>
    /// <typeparam name="TCombine">How the row is shared.</typeparam>
    /// <param name="student">Student logits, [B*C].</param>
    /// <param name="teacher">Teacher logits, [B*C].</param>
    /// <param name="offset">Index of the row's first element.</param>
    /// <param name="start">First column of this thread's slice.</param>
    /// <param name="stride">Column step.</param>
    /// <param name="classes">C.</param>
    /// <param name="inverseTemperature">1/T.</param>
    /// <returns>The row's log-softmax, ready to evaluate per column.</returns>
    public static LogSoftmaxPair Measure<TCombine>(ArrayView<float> student, ArrayView<float> teacher, long offset,
        int start, int stride, int classes, float inverseTemperature) where TCombine : struct, IRowCombine
    {
        var terms = new SoftmaxPairTerms(student, teacher, inverseTemperature);
        SoftmaxPair sums = RowSweep.Accumulate<SoftmaxPair, SoftmaxPairTerms>(terms, offset, start, stride, classes);
        float sliceMax = sums.Student.Max;
        sums.Student.Combine<TCombine>(inverseTemperature);
        sums.Teacher.Combine<TCombine>(inverseTemperature);
        // The slices that hold the row's student max offer their teacher logit there; any of them will do.
        float teacherAtMax = default(TCombine).Max(
            sliceMax == sums.Student.Max ? sums.TeacherAtStudentMax : float.NegativeInfinity);
        return new LogSoftmaxPair(sums.Student.Max, sums.Student.LogSum, sums.Teacher.Max, sums.Teacher.LogSum,
            teacherAtMax, inverseTemperature);
    }
}

/// <summary>The column terms of <see cref="SoftmaxPair.Measure{TCombine}"/>.</summary>
/// <param name="student">Student logits, [B*C].</param>
/// <param name="teacher">Teacher logits, [B*C].</param>
/// <param name="inverseTemperature">1/T.</param>
public readonly struct SoftmaxPairTerms(ArrayView<float> student, ArrayView<float> teacher, float inverseTemperature)
    : IRowTerms<SoftmaxPair>
{
    private readonly ArrayView<float> student = student;
    private readonly ArrayView<float> teacher = teacher;
    private readonly float inverseTemperature = inverseTemperature;

    /// <inheritdoc/>
    public SoftmaxPair Empty => new() { Student = SoftmaxSums.Empty, Teacher = SoftmaxSums.Empty };

    /// <inheritdoc/>
    public void Add(ref SoftmaxPair sums, long index, int column)
    {
        float zs = student[index];
        float zt = teacher[index];
        if (zs > sums.Student.Max) sums.TeacherAtStudentMax = zt;
        sums.Student.Add(zs, inverseTemperature);
        sums.Teacher.Add(zt, inverseTemperature);
    }

    /// <inheritdoc/>
    public void Merge(ref SoftmaxPair total, in SoftmaxPair part)
    {
        if (part.Student.Max > total.Student.Max) total.TeacherAtStudentMax = part.TeacherAtStudentMax;
        total.Student.Merge(part.Student, inverseTemperature);
        total.Teacher.Merge(part.Teacher, inverseTemperature);
    }
}

/// <summary>
/// log q = log softmax(z_s / T) and log p = log softmax(z_t / T) of one row, per column, and both at the column of
/// the student's largest logit (the "student argmax"), where q is largest.
/// </summary>
/// <remarks>
/// The gradients of reverse KL and JSD have the form q_j (x_j - E_q[x]). Where q is close to one-hot, that is a small
/// difference of two large numbers; written as q_j ((x_j - x*) - E_q[x - x*]) with x* = x at the student argmax
/// (equal, since sum q = 1), the difference at the argmax is exactly 0 and E_q[x - x*] is a sum of small terms, so
/// float32 keeps the gradient's relative accuracy however peaked q is.
/// </remarks>
/// <param name="maxStudent">Row max of z_s.</param>
/// <param name="logSumStudent">log sum exp((z_s - max) / T).</param>
/// <param name="maxTeacher">Row max of z_t.</param>
/// <param name="logSumTeacher">log sum exp((z_t - max) / T).</param>
/// <param name="teacherAtStudentMax">z_t in the column of the student argmax.</param>
/// <param name="inverseTemperature">1/T.</param>
public readonly struct LogSoftmaxPair(float maxStudent, float logSumStudent, float maxTeacher, float logSumTeacher,
    float teacherAtStudentMax, float inverseTemperature)
{
    private readonly float maxStudent = maxStudent;
    private readonly float logSumStudent = logSumStudent;
    private readonly float maxTeacher = maxTeacher;
    private readonly float logSumTeacher = logSumTeacher;
    private readonly float teacherAtStudentMax = teacherAtStudentMax;
    private readonly float inverseTemperature = inverseTemperature;

    /// <summary>log q at the student argmax (computed exactly as <see cref="LogQ"/> computes it there).</summary>
    public float ArgmaxLogQ => LogQ(maxStudent);

    /// <summary>log p at the student argmax (computed exactly as <see cref="LogP"/> computes it there).</summary>
    public float ArgmaxLogP => LogP(teacherAtStudentMax);

    /// <summary>log q of a student logit.</summary>
    /// <param name="zs">Raw student logit.</param>
    /// <returns>(z_s - max) / T - log sum.</returns>
    public float LogQ(float zs) => (zs - maxStudent) * inverseTemperature - logSumStudent;

    /// <summary>log p of a teacher logit.</summary>
    /// <param name="zt">Raw teacher logit.</param>
    /// <returns>(z_t - max) / T - log sum.</returns>
    public float LogP(float zt) => (zt - maxTeacher) * inverseTemperature - logSumTeacher;
}
