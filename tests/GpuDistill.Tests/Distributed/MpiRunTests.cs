using System.Diagnostics;
using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Distributed;
using GpuDistill.Models;
using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Distributed;

/// <summary>
/// The command line under Open MPI's <c>mpirun -np 2</c>: one <c>compare</c> run over two processes (data-parallel
/// for the student alone with synchronised batch norm, one DML peer per rank) against the same run in one process, on
/// 100 images; the small CNN has batch norm and no dropout, so the runs must agree. Skipped, with the reason, where
/// Open MPI is not installed.
/// </summary>
[NonParallelizable]
public sealed class MpiRunTests
{
    /// <summary>
    /// How long a run or a wait may take before the test fails instead of hanging. Generous: a run takes seconds on a
    /// quiet machine, but minutes on one whose cores a results run already holds, and only a hang should fail here.
    /// </summary>
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(10);

    private const string Arguments = "compare --methods none --schemes dml --peers 2 --students small-cnn --epochs 2 --teacher-epochs 1 --batch-size 20 --seeds 1";

    private string directory = null!;
    private string data = null!;
    private string cli = null!;

    [OneTimeSetUp]
    public void RunOnceAndOverTwoProcesses()
    {
        if (FindOnPath("mpirun") is null || !NativeLibrary.TryLoad(OpenMpiGroup.LibraryName, out _))
            Assert.Ignore("Open MPI is not installed (apt-get install -y openmpi-bin libopenmpi-dev): the runs over processes are not tested here.");
        cli = DotnetRun.Cli;
        directory = Directory.CreateTempSubdirectory("gpudistill-mpi-").FullName;
        data = Path.Combine(directory, "data");
        Directory.CreateDirectory(data);
        (ImageDataset train, ImageDataset test) = FashionMnist.LoadEmbedded();
        IdxWriter.WriteDataset(train.StratifiedSample(10, 3, "mpi test"), Path.Combine(data, "train-images-idx3-ubyte"), Path.Combine(data, "train-labels-idx1-ubyte"), gzip: false);
        IdxWriter.WriteDataset(test.StratifiedSample(5, 3, "mpi test"), Path.Combine(data, "t10k-images-idx3-ubyte"), Path.Combine(data, "t10k-labels-idx1-ubyte"), gzip: false);

        Run("dotnet", $"{cli} {Arguments} --data {data} --out {directory}/one", expectSuccess: true);
        Run("mpirun", $"-np 2 --allow-run-as-root --oversubscribe dotnet {cli} {Arguments} --data {data} --out {directory}/two --distributed --batch-norm sync", expectSuccess: true);
    }

    [OneTimeTearDown]
    public void Delete()
    {
        if (directory is not null) Directory.Delete(directory, recursive: true);
    }

    [Test]
    public void DataParallelOverTwoRanksEndsWithTheWeightsOfOneProcess() =>
        AssertSameWeights(Path.Combine("checkpoints", "none", "small-cnn", "seed1", "epoch-2.model.pt"));

    [TestCase("epoch-2.model.pt")]
    [TestCase("epoch-2.peer1.model.pt")]
    public void DmlPeersAsRanksEndWithTheWeightsOfOneProcess(string peer) =>
        AssertSameWeights(Path.Combine("checkpoints", "dml", "small-cnn", "seed1", peer));

    [Test]
    public void RanksStartedWithOtherSettingsAreRefusedAtStart()
    {
        string common = $"dotnet {cli} {Arguments} --data {data} --distributed";
        string output = Run("mpirun", $"--allow-run-as-root --oversubscribe -np 1 {common} --out {directory}/bad : -np 1 {common} --out {directory}/bad --teacher-epochs 2", expectSuccess: false);
        Assert.That(output, Does.Contain("Rank 1 was started with other settings than rank 0"));
    }

    /// <summary>
    /// Rank 1 is killed (SIGKILL) after rank 0 has checkpointed two epochs: mpirun ends rank 0 rather than leave it
    /// waiting in an allreduce, the last checkpoint rank 0 wrote still loads, and a <c>--resume</c> over two ranks
    /// finishes with the weights of the same two ranks run without interruption.
    /// </summary>
    [Test]
    public void ARankThatDiesEndsTheRunAndTheResumedRunEndsAsAnUninterruptedOne()
    {
        const string Long = "compare --methods none --students small-cnn --epochs 20 --teacher-epochs 1 --batch-size 20 --seeds 1";
        string dying = Path.Combine(directory, "dying");
        string checkpoints = Path.Combine(dying, "checkpoints", "none", "small-cnn", "seed1");
        string twoRanks = $"-np 2 --allow-run-as-root --oversubscribe dotnet {cli} {Long} --data {data} --out {dying} --distributed --batch-norm sync";

        using Process mpirun = Start("mpirun", twoRanks, out Task<string> output);
        int killedAfter = WaitForCheckpointedEpochs(checkpoints, 2, mpirun);
        Assert.That(killedAfter, Is.LessThan(20), "the run finished before rank 1 could be killed");
        int rank1 = FindRank(dying, 1);
        Process.GetProcessById(rank1).Kill();
        if (!mpirun.WaitForExit(Patience))
        {
            mpirun.Kill(entireProcessTree: true);
            Assert.Fail($"rank 0 went on waiting for the dead rank 1: mpirun did not end in {Patience.TotalMinutes} minutes.");
        }
        Assert.That(mpirun.ExitCode, Is.Not.Zero, output.Result);

        int kept = CompletedEpochs(checkpoints);
        Assert.That(kept, Is.GreaterThanOrEqualTo(killedAfter), "a checkpoint written before the failure was lost");
        using (DistillModel saved = ModelFactory.Create("small-cnn", 0))
            Assert.That(Checkpoint.TryLoad(saved, Path.Combine(checkpoints, $"epoch-{kept}.model.pt")), Is.True, "the last checkpoint loads");

        Run("mpirun", $"{twoRanks} --resume", expectSuccess: true);
        string whole = Path.Combine(directory, "not-dying");
        Run("mpirun", twoRanks.Replace(dying, whole, StringComparison.Ordinal), expectSuccess: true);
        using DistillModel resumed = ModelFactory.Create("small-cnn", 0), uninterrupted = ModelFactory.Create("small-cnn", 0);
        string last = Path.Combine("checkpoints", "none", "small-cnn", "seed1", "epoch-20.model.pt");
        Assert.That(Checkpoint.TryLoad(resumed, Path.Combine(dying, last)), Is.True, "the resumed run's weights");
        Assert.That(Checkpoint.TryLoad(uninterrupted, Path.Combine(whole, last)), Is.True, "the uninterrupted run's weights");
        DataParallelTests.AssertSameState(resumed, uninterrupted, 1e-6);
    }

    /// <summary>Waits until the run's state file records at least <paramref name="epochs"/> epochs; returns how many.</summary>
    private static int WaitForCheckpointedEpochs(string checkpoints, int epochs, Process run)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Patience)
        {
            int done = CompletedEpochs(checkpoints);
            if (done >= epochs || run.HasExited) return done;
            Thread.Sleep(10);
        }
        run.Kill(entireProcessTree: true);
        Assert.Fail($"no checkpoint of {epochs} epochs in {checkpoints} after {Patience.TotalMinutes} minutes.");
        return 0;
    }

    /// <summary>The epochs the state file in <paramref name="checkpoints"/> records; 0 when there is none yet.</summary>
    private static int CompletedEpochs(string checkpoints)
    {
        string state = Path.Combine(checkpoints, "state.json");
        if (!File.Exists(state)) return 0;
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(state));
        return json.RootElement.GetProperty("completedEpochs").GetInt32();
    }

    /// <summary>The process id of the rank <paramref name="rank"/> whose command line names <paramref name="marker"/>.</summary>
    private static int FindRank(string marker, int rank)
    {
        foreach (string proc in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out int pid)) continue;
            try
            {
                string commandLine = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                if (!commandLine.Contains("GpuDistill.Cli.dll", StringComparison.Ordinal) || !commandLine.Contains(marker, StringComparison.Ordinal)) continue;
                string environment = File.ReadAllText(Path.Combine(proc, "environ"));
                if (environment.Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}")) return pid;
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        Assert.Fail($"no process of rank {rank} running with '{marker}' in its command line.");
        return 0;
    }

    private void AssertSameWeights(string relative)
    {
        using DistillModel one = ModelFactory.Create("small-cnn", 0), two = ModelFactory.Create("small-cnn", 0);
        Assert.That(Checkpoint.TryLoad(one, Path.Combine(directory, "one", relative)), Is.True, "one process's weights");
        Assert.That(Checkpoint.TryLoad(two, Path.Combine(directory, "two", relative)), Is.True, "rank 0's weights");
        DataParallelTests.AssertSameState(two, one, 1e-4);
    }

    private static string Run(string program, string arguments, bool expectSuccess)
    {
        using Process process = Start(program, arguments, out Task<string> output);
        if (!process.WaitForExit(Patience))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {arguments} did not finish in {Patience.TotalMinutes} minutes.");
        }
        string all = output.Result;
        if (expectSuccess && process.ExitCode != 0) Assert.Fail($"{program} {arguments} exited with {process.ExitCode}:\n{all}");
        if (!expectSuccess && process.ExitCode == 0) Assert.Fail($"{program} {arguments} succeeded, where it should have been refused:\n{all}");
        return all;
    }

    /// <summary>Starts <paramref name="program"/>; <paramref name="output"/> completes with its stdout and stderr once it ends.</summary>
    private static Process Start(string program, string arguments, out Task<string> output)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(), stderr = process.StandardError.ReadToEndAsync();
        output = Task.WhenAll(stdout, stderr).ContinueWith(_ => stdout.Result + stderr.Result, TaskScheduler.Default);
        return process;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
}
