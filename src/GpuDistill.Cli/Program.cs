using GpuDistill.Cli;
using GpuDistill.Cli.Commands;
using GpuDistill.Experiments;
using Spectre.Console;
using Spectre.Console.Cli;

// libtorch's OpenMP workers spin at every barrier by default; when other work shares the cores they slow to a crawl
// (measured: 82 img/s instead of ~1,250 for the small CNN with 10 other busy threads). Passive waiting costs
// nothing measurable on an idle machine. Set before libtorch loads, in the process environment OpenMP reads.
if (OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null)
    NativeEnvironment.Set("OMP_WAIT_POLICY", "PASSIVE");

// libtorch's intra-op threads: all cores by default; GPUDISTILL_THREADS=1 to leave cores to other work.
string? threads = Environment.GetEnvironmentVariable("GPUDISTILL_THREADS");
TorchSharp.torch.set_num_threads(int.TryParse(threads, out int n) && n > 0 ? n : Environment.ProcessorCount);

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("gpudistill");
    // An option the command does not have is an error, not an argument silently ignored.
    config.UseStrictParsing();
    // --distributed: join mpirun's processes before a training command runs.
    config.SetInterceptor(new DistributedInterceptor());
    config.AddCommand<CompareCommand>("compare").WithDescription(MethodHelp.Describe(
        "Teacher, student alone and each distillation method over several seeds; writes results.md/csv/json and plots."));
    config.AddCommand<DistillCommand>("distill").WithDescription(MethodHelp.Describe(
        "Train one student with one method (--method), weighted loss (--loss) or scheme (--scheme)."));
    config.AddCommand<MethodsCommand>("methods").WithDescription("Every loss term and scheme, with its settings and their defaults.");
    config.AddCommand<TrainTeacherCommand>("train-teacher").WithDescription("Train (or reuse) the teacher.");
    config.AddCommand<CacheTeacherCommand>("cache-teacher").WithDescription("Run a teacher once over the training set and write its outputs as Parquet, for --teacher-cache.");
    config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Test accuracy of saved weights.");
    config.AddCommand<DiagnoseCommand>("diagnose").WithDescription("Fidelity, calibration and CKA of a teacher-student pair; writes diagnostics.md and PNGs.");
    config.AddCommand<RunCommand>("run").WithDescription("Run a JSON recipe.");
    config.AddCommand<ExportCommand>("export").WithDescription("Write saved weights as ONNX (float, or QDQ with --bits) and check them in ONNX Runtime.");
    config.AddCommand<SearchCommand>("search").WithDescription("Teacher-guided student search within a parameter (and latency) budget; writes candidates, Pareto PNG and the winner's recipe.");
    config.AddCommand<DevicesCommand>("devices").WithDescription("List the accelerators ILGPU can use.");
    config.SetExceptionHandler((exception, _) =>
    {
        // Bad input is reported as a sentence, not a stack trace.
        Exception shown = exception is CommandRuntimeException { InnerException: { } inner } ? inner : exception;
        bool known = shown is RecipeException or ArgumentException or InvalidDataException or FileNotFoundException or CommandParseException;
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(UserMessages.For(shown, args))}");
        if (!known) AnsiConsole.WriteException(shown, ExceptionFormats.ShortenEverything);
        return 1;
    });
});
return app.Run(args);
