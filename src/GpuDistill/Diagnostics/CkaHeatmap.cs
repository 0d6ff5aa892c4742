using System.Globalization;
using ScottPlot;

namespace GpuDistill.Diagnostics;

/// <summary>
/// The linear-CKA matrix as a heatmap PNG: teacher layers as rows, student layers as columns, colour scale fixed to
/// [0, 1], each cell labelled with its value ("n/a" where CKA is undefined).
/// </summary>
public static class CkaHeatmap
{
    /// <summary>Writes the heatmap as a PNG.</summary>
    /// <param name="matrix">The CKA values and layer names.</param>
    /// <param name="path">The PNG to write (replaced when it exists).</param>
    public static void Write(CkaMatrix matrix, string path)
    {
        ArgumentNullException.ThrowIfNull(matrix);
        ArgumentException.ThrowIfNullOrEmpty(path);
        int rows = matrix.TeacherLayers.Count, columns = matrix.StudentLayers.Count;

        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(matrix.Values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        // Cell (r, c) spans x in [c, c + 1] and, row 0 on top, y in [rows - 1 - r, rows - r].
        heatmap.Rectangle = new CoordinateRect(0, columns, 0, rows);
        plot.Add.ColorBar(heatmap);
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                double value = matrix.Values[r, c];
                var text = plot.Add.Text(double.IsNaN(value) ? "n/a" : value.ToString("0.00", CultureInfo.InvariantCulture),
                    c + 0.5, rows - r - 0.5);
                text.LabelFontSize = 16;
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontColor = value > 0.6 ? Colors.Black : Colors.White;
            }
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, columns).Select(c => c + 0.5)], [.. matrix.StudentLayers]);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, rows).Select(r => rows - r - 0.5)], [.. matrix.TeacherLayers]);
        plot.Axes.SetLimits(0, columns, 0, rows);
        plot.Title($"Linear CKA, teacher x student layers ({matrix.Examples} test images)");
        plot.XLabel("student layer");
        plot.YLabel("teacher layer");
        plot.SavePng(path, 200 + 150 * columns, 160 + 110 * rows);
    }
}
