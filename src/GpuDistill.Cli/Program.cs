using GpuDistill.Cli.Commands;
using GpuDistill.Experiments;
using Spectre.Console;
using Spectre.Console.Cli;

// libtorch's intra-op threads: all cores by default; GPUDISTILL_THREADS=1 when other work shares the machine, since
// its worker threads spin at barriers and slow to a crawl when they do not each have a core.
string? threads = Environment.GetEnvironmentVariable("GPUDISTILL_THREADS");
TorchSharp.torch.set_num_threads(int.TryParse(threads, out int n) && n > 0 ? n : Environment.ProcessorCount);

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("gpudistill");
    config.AddCommand<CompareCommand>("compare")
        .WithDescription("Teacher, student alone and each distillation method over several seeds; writes results.md/csv/json and plots.");
    config.AddCommand<DistillCommand>("distill").WithDescription("Train one student with one method (--method) or weighted loss (--loss).");
    config.AddCommand<TrainTeacherCommand>("train-teacher").WithDescription("Train (or reuse) the teacher.");
    config.AddCommand<EvaluateCommand>("evaluate").WithDescription("Test accuracy of saved weights.");
    config.AddCommand<RunCommand>("run").WithDescription("Run a JSON recipe.");
    config.AddCommand<DevicesCommand>("devices").WithDescription("List the accelerators ILGPU can use.");
    config.SetExceptionHandler((exception, _) =>
    {
        // Bad input is reported as a sentence, not a stack trace.
        Exception shown = exception is CommandRuntimeException { InnerException: { } inner } ? inner : exception;
        bool known = shown is RecipeException or ArgumentException or InvalidDataException or FileNotFoundException or CommandParseException;
        AnsiConsole.MarkupLine($"[red]error:[/] {Markup.Escape(shown.Message)}");
        if (!known) AnsiConsole.WriteException(shown, ExceptionFormats.ShortenEverything);
        return 1;
    });
});
return app.Run(args);
