using System.Globalization;

namespace GpuDistill.Perf;

/// <summary>
/// One measured line: a kernel on a backend at a size in one mode, with the TorchSharp composite's time in the same
/// mode (<paramref name="CompositeMs"/>) and the streaming floor's (<paramref name="FloorMs"/>) for the ratios.
/// </summary>
/// <param name="Kernel">Kernel family, e.g. softmax-kl.</param>
/// <param name="Backend">Where it ran, e.g. simd, ilgpu-cpu row/thread, torchsharp-composite, streaming-floor.</param>
/// <param name="Size">The problem size, e.g. 4096x1000.</param>
/// <param name="Mode">forward, backward, fwd+bwd, kernel only, copies, ...</param>
/// <param name="Timing">Median and spread.</param>
/// <param name="Bytes">Bytes the mode must move at least (reads plus writes).</param>
/// <param name="CompositeMs">The composite's median in the comparable mode (NaN when there is none).</param>
/// <param name="FloorMs">The streaming floor's median over the same bytes (NaN when there is none).</param>
internal sealed record ResultRow(string Kernel, string Backend, string Size, string Mode, Timing Timing, long Bytes,
    double CompositeMs, double FloorMs = double.NaN)
{
    public double GigabytesPerSecond => Bytes / (Timing.MedianMs * 1e-3) / 1e9;

    public double SpeedupOverComposite => CompositeMs / Timing.MedianMs;

    /// <summary>Floor time over this time: 1 means as fast as streaming the bytes.</summary>
    public double FractionOfFloor => FloorMs / Timing.MedianMs;

    public static string CsvHeader =>
        "kernel,backend,size,mode,median_ms,p20_ms,p80_ms,repeats,bytes,effective_gb_s,speedup_vs_composite,fraction_of_floor,machine";

    public string ToCsv(string machine) => string.Join(',',
        Kernel, Quote(Backend), Size, Quote(Mode), F(Timing.MedianMs), F(Timing.P20Ms), F(Timing.P80Ms),
        Timing.Repeats.ToString(CultureInfo.InvariantCulture), Bytes.ToString(CultureInfo.InvariantCulture),
        F(GigabytesPerSecond), F(SpeedupOverComposite), F(FractionOfFloor), Quote(machine));

    private static string F(double v) => double.IsNaN(v) ? "" : v.ToString("G5", CultureInfo.InvariantCulture);

    private static string Quote(string s) => "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
