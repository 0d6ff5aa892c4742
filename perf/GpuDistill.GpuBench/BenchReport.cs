using System.Globalization;
using System.Text;
using GpuDistill.Kernels.Rows;

namespace GpuDistill.GpuBench;

/// <summary>The benchmark's console table and CSV.</summary>
/// <param name="Device">The device, in words.</param>
/// <param name="Copy">The copy bandwidth every fraction is taken of.</param>
/// <param name="Sizes">Every size's result.</param>
public sealed record BenchReport(string Device, CopyBandwidth Copy, IReadOnlyList<SizeResult> Sizes)
{
    /// <summary>The CSV header; run.sh reads the columns by name.</summary>
    public const string CsvHeader =
        "device,kind,size,rows,classes,layout,best,median_ms,p20_ms,p80_ms,samples,calls_per_sample," +
        "bytes_per_element,bytes,gb_per_s,fraction_of_copy,fraction_of_copy_compulsory,copy_gb_per_s,check,note";

    /// <summary>The short table: one line per size, the best layout's figures.</summary>
    /// <returns>The table, lines ending in a newline.</returns>
    public string Table()
    {
        var text = new StringBuilder();
        Append(text, $"copy bandwidth: {Copy.GigabytesPerSecond:F0} GB/s (device-to-device copy of {Copy.BytesPerCopy / 1e9:F2} GB, read + write counted, median of {Copy.Timing.Samples})");
        Append(text, $"fused KL forward + backward, one launch, float32, T = {BenchSettings.Temperature}, no labels");
        Append(text, $"bytes: {ByteModel.FusedBytesPerElement} B/element as the kernel reads (student and teacher twice, gradient written once); {ByteModel.CompulsoryBytesPerElement} B/element compulsory (each once)");
        Append(text, $"{"size",-13} {"best layout",-11} {"ms",9} {"GB/s",8} {"of copy",7} {"compuls.",8} {"floor ms",9} {"vs floor",8} {"other ms",9}  check");
        foreach (SizeResult size in Sizes)
        {
            LayoutResult? best = size.Best;
            if (size.Skipped is not null || best is null)
            {
                Append(text, $"{size.Size,-13} {(size.Skipped is null ? "every layout MISMATCHED the reference" : "skipped: " + size.Skipped)}");
                continue;
            }
            LayoutResult? other = size.Layouts.FirstOrDefault(l => l != best);
            double gbps = GigabytesPerSecond(size.Size, best.Timing, ByteModel.FusedBytesPerElement);
            double compulsory = GigabytesPerSecond(size.Size, best.Timing, ByteModel.CompulsoryBytesPerElement);
            string check = size.Layouts.All(l => l.Check.Passed) ? "ok"
                : "MISMATCH in " + string.Join(", ", size.Layouts.Where(l => !l.Check.Passed).Select(l => Layouts.Name(l.Layout)));
            string otherMs = other is null ? "" : other.Timing.MedianMs.ToString("F3", CultureInfo.InvariantCulture);
            Append(text, $"{size.Size,-13} {Layouts.Name(best.Layout),-11} {best.Timing.MedianMs,9:F3} {gbps,8:F1} {100 * gbps / Copy.GigabytesPerSecond,6:F1}% {100 * compulsory / Copy.GigabytesPerSecond,7:F1}% {size.Floor!.MedianMs,9:F3} {best.Timing.MedianMs / size.Floor.MedianMs,7:F2}x {otherMs,9}  {check}");
        }
        return text.ToString();
    }

    /// <summary>The CSV: a copy row, then per size a floor row and a row per layout (or one skipped row).</summary>
    /// <returns>Header and rows.</returns>
    public IEnumerable<string> CsvLines()
    {
        yield return CsvHeader;
        yield return Row("copy", "", 0, 0, "", false, Copy.Timing, 0, 2 * Copy.BytesPerCopy, Copy.GigabytesPerSecond, 1, 1, "", "");
        foreach (SizeResult size in Sizes)
        {
            BenchSize s = size.Size;
            if (size.Skipped is not null)
            {
                yield return Row("skipped", s.ToString(), s.Rows, s.Classes, "", false, null, 0, 0, double.NaN, double.NaN, double.NaN, "", size.Skipped);
                continue;
            }
            double floorGbps = GigabytesPerSecond(s, size.Floor!, ByteModel.FloorBytesPerElement);
            yield return Row("floor", s.ToString(), s.Rows, s.Classes, "", false, size.Floor, ByteModel.FloorBytesPerElement,
                s.Elements * ByteModel.FloorBytesPerElement, floorGbps, floorGbps / Copy.GigabytesPerSecond, floorGbps / Copy.GigabytesPerSecond, "", "read 2 + write 1");
            LayoutResult? best = size.Best;
            foreach (LayoutResult layout in size.Layouts)
            {
                double gbps = GigabytesPerSecond(s, layout.Timing, ByteModel.FusedBytesPerElement);
                double compulsory = GigabytesPerSecond(s, layout.Timing, ByteModel.CompulsoryBytesPerElement);
                yield return Row("fused-kl", s.ToString(), s.Rows, s.Classes, Layouts.Name(layout.Layout), layout == best,
                    layout.Timing, ByteModel.FusedBytesPerElement, s.Elements * ByteModel.FusedBytesPerElement, gbps,
                    gbps / Copy.GigabytesPerSecond, compulsory / Copy.GigabytesPerSecond,
                    layout.Check.Passed ? "ok" : "mismatch", layout.Check.ToString());
            }
        }
    }

    /// <summary>Bytes per element x elements / median time, in GB/s.</summary>
    /// <param name="size">The shape.</param>
    /// <param name="timing">The timing.</param>
    /// <param name="bytesPerElement">The byte model.</param>
    /// <returns>GB/s (10^9 bytes).</returns>
    public static double GigabytesPerSecond(BenchSize size, DeviceTiming timing, int bytesPerElement)
    {
        ArgumentNullException.ThrowIfNull(size);
        ArgumentNullException.ThrowIfNull(timing);
        return size.Elements * (double)bytesPerElement / (timing.MedianMs * 1e-3) / 1e9;
    }

    private string Row(string kind, string size, int rows, int classes, string layout, bool best, DeviceTiming? timing,
        int bytesPerElement, long bytes, double gbps, double fraction, double compulsoryFraction, string check, string note) =>
        string.Join(',', Quote(Device), kind, size, Number((long)rows), Number((long)classes), layout, best ? "1" : "0",
            Number(timing?.MedianMs), Number(timing?.P20Ms), Number(timing?.P80Ms), Number(timing?.Samples),
            Number(timing?.CallsPerSample), Number((long)bytesPerElement), Number(bytes), Number(gbps), Number(fraction),
            Number(compulsoryFraction), Number(Copy.GigabytesPerSecond), check, Quote(note));

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Number(double? value) =>
        value is double v && double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";

    private static string Quote(string value) => value.Contains(',', StringComparison.Ordinal) || value.Contains('"', StringComparison.Ordinal)
        ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\""
        : value;

    private static void Append(StringBuilder text, FormattableString line) =>
        text.AppendLine(line.ToString(CultureInfo.InvariantCulture));
}
