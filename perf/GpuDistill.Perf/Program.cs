using System.Globalization;
using GpuDistill.Accelerators;
using GpuDistill.Perf;

// gpudistill perf: dotnet run -c Release --project perf/GpuDistill.Perf -- [--quick] [--out DIR] [--cpu-shapes]
bool quick = args.Contains("--quick");
bool cpuShapes = args.Contains("--cpu-shapes");
int outIndex = Array.IndexOf(args, "--out");
string outDir = outIndex >= 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine("artifacts", "perf");
Directory.CreateDirectory(outDir);
TorchSharp.torch.set_num_threads(Environment.ProcessorCount);

string machine = $"{Environment.ProcessorCount} cores, {Environment.OSVersion.VersionString}, .NET {Environment.Version}";
var devices = new List<(string Name, ComputeDevice Device)>();
foreach (DeviceInfo info in ComputeDevice.ListDevices())
    devices.Add(($"ilgpu-{info.Kind.ToString().ToLowerInvariant()}", ComputeDevice.Open(info.Kind, info.Index)));
if (cpuShapes)
{
    // Simulated CPU shapes (threads/warp x warps/multiprocessor x multiprocessors), to choose the default.
    int cores = Environment.ProcessorCount;
    foreach ((int w, int n, int m) in new[] { (4, 1, cores), (2, 1, cores), (8, 2, cores), (32, 1, cores) })
        devices.Add(($"ilgpu-cpu {w}x{n}x{m}", ComputeDevice.OpenCpu(w, n, m)));
}

(int, int)[] sizes = quick ? [(256, 10), (4096, 1000), (256, 32000)] : [(256, 10), (4096, 1000), (256, 32000), (64, 128256)];
var rows = new List<ResultRow>();
Console.WriteLine($"machine: {machine}");
Console.WriteLine($"{"kernel",-11} {"backend",-34} {"size",-12} {"median ms",10} {"p20",9} {"p80",9} {"GB/s",7} {"vs composite",13}");
foreach (ResultRow row in SoftmaxKLBenchmark.Run(sizes, devices, quick))
{
    rows.Add(row);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{row.Kernel,-11} {row.Backend,-34} {row.Size,-12} {row.Timing.MedianMs,10:F3} {row.Timing.P20Ms,9:F3} {row.Timing.P80Ms,9:F3} {row.GigabytesPerSecond,7:F2} {row.SpeedupOverComposite,12:F2}x"));
}

string csv = Path.Combine(outDir, "perf-results.csv");
File.WriteAllLines(csv, [ResultRow.CsvHeader, .. rows.Select(r => r.ToCsv(machine))]);
Console.WriteLine($"wrote {csv}");
foreach ((_, ComputeDevice device) in devices) device.Dispose();
