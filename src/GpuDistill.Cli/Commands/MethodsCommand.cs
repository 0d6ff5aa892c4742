using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill methods</c>: every loss term and scheme of the registry, with its settings and defaults.</summary>
internal sealed class MethodsCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        foreach (string line in MethodHelp.Catalogue()) AnsiConsole.WriteLine(line);
        return 0;
    }
}
