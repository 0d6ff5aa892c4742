using GpuDistill.Compute;
using Spectre.Console;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary><c>gpudistill devices</c>: every device ILGPU sees, and which one <c>auto</c> would take.</summary>
internal sealed class DevicesCommand : Command
{
    public override int Execute(CommandContext context, CancellationToken cancellationToken)
    {
        var table = new Table().AddColumns("kind", "index", "name", "memory", "warp size", "max group");
        foreach (DeviceInfo d in ComputeDevice.ListDevices())
        {
            table.AddRow(d.Kind.ToString(), d.Index.ToString(System.Globalization.CultureInfo.InvariantCulture),
                Markup.Escape(d.Name), d.Kind == AcceleratorKind.Cpu ? "host memory" : FormatBytes(d.MemoryBytes), d.WarpSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
                d.MaxThreadsPerGroup.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        using ComputeDevice auto = ComputeDevice.Open(AcceleratorKind.Auto);
        AnsiConsole.MarkupLine($"[grey]{Markup.Escape(auto.SelectionReason)}[/]");
        return 0;
    }

    private static string FormatBytes(long bytes) =>
        bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):F1} GiB" : $"{bytes / (double)(1L << 20):F0} MiB";
}
