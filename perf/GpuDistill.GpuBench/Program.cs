using GpuDistill.Compute;
using GpuDistill.GpuBench;

// gpudistill-gpubench: see BenchOptions.Usage, perf/gpu/run.sh and the README's "GPU benchmark bundle".
CudaDriverLocator.Register();
if (args.Contains("--families"))
{
    Console.WriteLine(string.Join(' ', BenchOptions.Families));
    return 0;
}
if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}

return options.SelfCheckOnly ? BundleRun.SelfCheckOnly(options, Console.Out) : BundleRun.Benchmark(options, Console.Out);
