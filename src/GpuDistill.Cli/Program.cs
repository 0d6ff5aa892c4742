using GpuDistill.Cli.Commands;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("gpudistill");
    config.AddCommand<DevicesCommand>("devices").WithDescription("List the accelerators ILGPU can use.");
});
return app.Run(args);
