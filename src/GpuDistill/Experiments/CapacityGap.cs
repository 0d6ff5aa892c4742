namespace GpuDistill.Experiments;

/// <summary>One method on one student of a capacity-gap sweep.</summary>
/// <param name="Method">The method.</param>
/// <param name="Student">The student architecture.</param>
/// <param name="Parameters">The student's parameters.</param>
/// <param name="TeacherFraction">The student's parameters over the teacher's.</param>
/// <param name="Alone">The student alone's mean test accuracy.</param>
/// <param name="Accuracy">The method's mean test accuracy.</param>
/// <param name="GapRecovered">(method - alone) / (teacher - alone).</param>
/// <param name="GapSpread">The method's accuracy spread (std over seeds) in the same units, (std) / (teacher - alone).</param>
public sealed record CapacityGapPoint(string Method, string Student, long Parameters, double TeacherFraction, double Alone,
    double Accuracy, double GapRecovered, double GapSpread);

/// <summary>
/// The teacher-student pair as a function of the student's size (Mirzadeh et al. 2020, TAKD): for every student of an
/// experiment trained alone ("none") and with other methods, the share of the teacher-student gap each method
/// recovers, against the student's parameter count. A compare over the students of
/// <see cref="Diagnostics.CapacityLadder.DefaultStudents"/> is the sweep; its results.md and capacity-gap.png show it.
/// </summary>
public static class CapacityGap
{
    /// <summary>
    /// Every method's point on every student that has a "none" row, by increasing student size; empty when fewer than
    /// two students have one (no sweep).
    /// </summary>
    public static IReadOnlyList<CapacityGapPoint> Points(ExperimentResults results)
    {
        ArgumentNullException.ThrowIfNull(results);
        double teacher = results.Teacher.FinalAccuracy;
        SummaryRow[] alone = [.. results.Summary.Where(r => r.Method == "none").OrderBy(r => r.Parameters)];
        if (alone.Length < 2) return [];
        var points = new List<CapacityGapPoint>();
        foreach (SummaryRow baseline in alone)
        {
            double gap = teacher - baseline.MeanAccuracy;
            foreach (SummaryRow row in results.Summary.Where(r => r.Student == baseline.Student && r.Method != "none" && r.GapRecovered is not null))
            {
                points.Add(new CapacityGapPoint(row.Method, row.Student, baseline.Parameters,
                    (double)baseline.Parameters / results.Teacher.Parameters, baseline.MeanAccuracy, row.MeanAccuracy,
                    row.GapRecovered!.Value, row.StdAccuracy / gap));
            }
        }
        return points;
    }
}
