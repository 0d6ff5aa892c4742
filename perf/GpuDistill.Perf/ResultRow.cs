using System.Globalization;

namespace GpuDistill.Perf;

/// <summary>One measured line: a kernel on a backend at a size, with its ratio to the TorchSharp composite.</summary>
internal sealed record ResultRow(string Kernel, string Backend, string Size, string Mode, Timing Timing, long Bytes, double CompositeMs)
{
    public double GigabytesPerSecond => Bytes / (Timing.MedianMs * 1e-3) / 1e9;

    public double SpeedupOverComposite => CompositeMs / Timing.MedianMs;

    public static string CsvHeader => "kernel,backend,size,mode,median_ms,p20_ms,p80_ms,repeats,bytes,effective_gb_s,speedup_vs_composite,machine";

    public string ToCsv(string machine) => string.Join(',',
        Kernel, Quote(Backend), Size, Quote(Mode), F(Timing.MedianMs), F(Timing.P20Ms), F(Timing.P80Ms),
        Timing.Repeats.ToString(CultureInfo.InvariantCulture), Bytes.ToString(CultureInfo.InvariantCulture),
        F(GigabytesPerSecond), F(SpeedupOverComposite), Quote(machine));

    private static string F(double v) => v.ToString("G5", CultureInfo.InvariantCulture);

    private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
