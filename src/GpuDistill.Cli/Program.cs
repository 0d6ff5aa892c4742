using GpuDistill.Cli.Commands;
using GpuDistill.Experiments;
using Spectre.Console;
using Spectre.Console.Cli;

// Two cores here; libtorch would otherwise pick its own count per process.
TorchSharp.torch.set_num_threads(Environment.ProcessorCount);

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
