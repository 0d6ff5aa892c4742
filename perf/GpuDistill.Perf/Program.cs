using System.Globalization;
using GpuDistill.Compute;
using GpuDistill.Perf;

// gpudistill perf: dotnet run -c Release --project perf/GpuDistill.Perf -- [--quick] [--out DIR] [--cpu-shapes] [--only NAME,NAME]
//   [--methods NAME,NAME] (method-step: these methods and the student alone)
bool quick = args.Contains("--quick");
bool cpuShapes = args.Contains("--cpu-shapes");
string outDir = Option("--out") ?? Path.Combine("artifacts", "perf");
string? only = Option("--only");
Directory.CreateDirectory(outDir);
TorchSharp.torch.set_num_threads(Environment.ProcessorCount);

string machine = Suite.DescribeMachine();
var devices = new List<(string Name, ComputeDevice Device)>();
foreach (DeviceInfo info in ComputeDevice.ListDevices())
    devices.Add(($"ilgpu-{info.Kind.ToString().ToLowerInvariant()}", ComputeDevice.Open(info.Kind, info.Index)));
devices.Add(("simd", ComputeDevice.Open(AcceleratorKind.Simd)));
if (cpuShapes)
{
    // Simulated CPU shapes (threads/warp x warps/multiprocessor x multiprocessors), to choose the default.
    int cores = Environment.ProcessorCount;
    foreach ((int w, int n, int m) in new[] { (4, 1, cores), (2, 1, cores), (8, 2, cores), (32, 1, cores) })
        devices.Add(($"ilgpu-cpu {w}x{n}x{m}", ComputeDevice.OpenCpu(w, n, m)));
}

var settings = new BenchmarkSettings(devices, quick)
{
    Methods = Option("--methods") is { } methods ? new HashSet<string>([.. methods.Split(','), "none"], StringComparer.OrdinalIgnoreCase) : null,
};
var rows = new List<ResultRow>();
Console.WriteLine($"machine: {machine}");
Console.WriteLine($"{"kernel",-11} {"backend",-36} {"size",-11} {"mode",-24} {"median ms",10} {"p20",9} {"p80",9} {"GB/s",7} {"vs comp.",9} {"floor",6}");
foreach ((string name, Func<BenchmarkSettings, IEnumerable<ResultRow>> benchmark) in Suite.Benchmarks)
{
    if (only is not null && !only.Split(',').Contains(name, StringComparer.OrdinalIgnoreCase)) continue;
    foreach (ResultRow row in benchmark(settings))
    {
        rows.Add(row);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{row.Kernel,-11} {row.Backend,-36} {row.Size,-11} {row.Mode,-24} {row.Timing.MedianMs,10:F3} {row.Timing.P20Ms,9:F3} {row.Timing.P80Ms,9:F3} {row.GigabytesPerSecond,7:F2} {row.SpeedupOverComposite,8:F2}x {row.FractionOfFloor,6:F2}"));
    }
}

string csv = Path.Combine(outDir, "perf-results.csv");
File.WriteAllLines(csv, [ResultRow.CsvHeader, .. rows.Select(r => r.ToCsv(machine))]);
Console.WriteLine($"wrote {csv}");
Console.WriteLine($"wrote {Summary.Write(rows, machine, Path.Combine(outDir, "summary.md"), quick)}");
foreach (string chart in Charts.Write(rows, outDir)) Console.WriteLine($"wrote {chart}");
foreach ((_, ComputeDevice device) in devices) device.Dispose();

string? Option(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
