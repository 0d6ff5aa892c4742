using System.Runtime.InteropServices;
using GpuDistill.Distributed;
using Spectre.Console.Cli;

namespace GpuDistill.Cli.Commands;

/// <summary>
/// <c>--distributed</c>: before a training command runs, this process joins the processes mpirun started (Open MPI)
/// and every trainer of the command trains over them (data-parallel; dml: one peer per rank); only rank 0 prints
/// progress and writes files. After the command succeeded every rank ends MPI together; a rank that fails exits
/// without it, so mpirun stops the others.
/// </summary>
internal sealed class DistributedInterceptor : ICommandInterceptor
{
    private PosixSignalRegistration? stopSignal;

    public void Intercept(CommandContext context, CommandSettings settings)
    {
        if (settings is not ExperimentSettings { Distributed: true } experiment) return;
        BatchNormMode batchNorm = experiment.BatchNorm?.ToLowerInvariant() switch
        {
            null or "local" => BatchNormMode.Local,
            "sync" or "synchronised" or "synchronized" => BatchNormMode.Synchronised,
            _ => throw new ArgumentException($"--batch-norm: expected local or sync; got '{experiment.BatchNorm}'.", "--batch-norm"),
        };
        OpenMpiGroup group = OpenMpiGroup.Join();
        DistributedTraining.Current = new DistributedSettings(group) { BatchNorm = batchNorm };
        // The ranks of one machine share its cores: libtorch's threads are split between them (unless set by hand).
        if (Environment.GetEnvironmentVariable("GPUDISTILL_THREADS") is null
            && int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out int local) && local > 1)
            TorchSharp.torch.set_num_threads(Math.Max(1, Environment.ProcessorCount / local));
        // mpirun ends the other ranks with SIGTERM when one dies: say so, rather than vanish mid-epoch.
        stopSignal = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => Console.Error.WriteLine(
            $"rank {group.Rank}: stopped by mpirun because another rank ended (its message is above); the checkpoints of completed epochs are kept: rerun with --resume to continue."));
        Console.Error.WriteLine($"rank {group.Rank} of {group.Size}: {(group.Rank == 0 ? "writes the results" : "trains its share")}, batch norm {batchNorm.ToString().ToLowerInvariant()}");
    }

    public void InterceptResult(CommandContext context, CommandSettings settings, ref int result)
    {
        if (DistributedTraining.Current?.Group is not OpenMpiGroup group) return;
        CollectiveTraffic traffic = group.Traffic;
        Console.Error.WriteLine($"rank {group.Rank}: {traffic.Calls} collective calls, {traffic.PayloadBytes:N0} bytes of its own data sent");
        group.Finish();
        stopSignal?.Dispose();
    }
}
