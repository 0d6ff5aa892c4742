using ScottPlot;

namespace GpuDistill.Diagnostics;

/// <summary>
/// The reliability diagram of a teacher and a student in one figure: per confidence bin, each model's accuracy as a
/// bar beside the other's, over the diagonal a perfectly calibrated model would follow. Empty bins have no bar.
/// </summary>
public static class ReliabilityDiagram
{
    /// <summary>Writes the diagram as a PNG.</summary>
    /// <param name="teacher">The teacher's calibration (its bins).</param>
    /// <param name="student">The student's calibration, with the same number of bins.</param>
    /// <param name="path">The PNG to write (replaced when it exists).</param>
    public static void Write(CalibrationResult teacher, CalibrationResult student, string path)
    {
        ArgumentNullException.ThrowIfNull(teacher);
        ArgumentNullException.ThrowIfNull(student);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (teacher.Bins.Count != student.Bins.Count)
            throw new ArgumentException($"student has {student.Bins.Count} bins; teacher has {teacher.Bins.Count}.", nameof(student));

        var plot = new Plot();
        double width = 1.0 / teacher.Bins.Count;
        AddModel(plot, teacher, $"teacher (ECE {DiagnosticsReport.Percent(teacher.Ece)})", Colors.SteelBlue, -width / 4, width / 2.2);
        AddModel(plot, student, $"student (ECE {DiagnosticsReport.Percent(student.Ece)})", Colors.DarkOrange, width / 4, width / 2.2);
        var diagonal = plot.Add.Line(0, 0, 1, 1);
        diagonal.LinePattern = LinePattern.Dashed;
        diagonal.Color = Colors.Gray;
        diagonal.LegendText = "perfect calibration";
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.Title($"Reliability diagram ({teacher.Bins.Count} bins, {teacher.Examples} images)");
        plot.XLabel("confidence (max softmax probability)");
        plot.YLabel("accuracy in the bin");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 700);
    }

    private static void AddModel(Plot plot, CalibrationResult result, string label, Color color, double offset, double size)
    {
        var bars = new List<Bar>();
        foreach (ReliabilityBin bin in result.Bins.Where(b => b.Count > 0))
        {
            bars.Add(new Bar
            {
                Position = (bin.Lower + bin.Upper) / 2 + offset,
                Value = bin.Accuracy,
                Size = size,
                FillColor = color,
            });
        }
        var plottable = plot.Add.Bars(bars);
        plottable.LegendText = label;
    }
}
