namespace GpuDistill.Kernels.MultiTeacher;

/// <summary>How the fused multi-teacher kernel weights its teachers in the mixture it distils.</summary>
public enum MultiTeacherWeighting
{
    /// <summary>One weight per teacher, the same for every row (read from the weights view).</summary>
    Fixed,

    /// <summary>
    /// Per row, each teacher weighted by its probability of the row's label at T = 1, normalised over the teachers
    /// (confidence-weighted teachers, after CA-MKD, Zhang et al. 2022).
    /// </summary>
    Confidence,
}
