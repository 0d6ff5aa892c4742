using System.Diagnostics;
using System.Runtime.InteropServices;
using GpuDistill.Data;
using GpuDistill.Distributed;
using GpuDistill.Models;

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
    private const string Arguments = "compare --methods none --schemes dml --peers 2 --students small-cnn --epochs 2 --teacher-epochs 1 --batch-size 20 --seeds 1";

    private string directory = null!;
    private string data = null!;
    private string cli = null!;

    [OneTimeSetUp]
    public void RunOnceAndOverTwoProcesses()
    {
        if (FindOnPath("mpirun") is null || !NativeLibrary.TryLoad(OpenMpiGroup.LibraryName, out _))
            Assert.Ignore("Open MPI is not installed (apt-get install -y openmpi-bin libopenmpi-dev): the runs over processes are not tested here.");
        cli = FindCli();
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

    private void AssertSameWeights(string relative)
    {
        using DistillModel one = ModelFactory.Create("small-cnn", 0), two = ModelFactory.Create("small-cnn", 0);
        Assert.That(Checkpoint.TryLoad(one, Path.Combine(directory, "one", relative)), Is.True, "one process's weights");
        Assert.That(Checkpoint.TryLoad(two, Path.Combine(directory, "two", relative)), Is.True, "rank 0's weights");
        DataParallelTests.AssertSameState(two, one, 1e-4);
    }

    private static string Run(string program, string arguments, bool expectSuccess)
    {
        var start = new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync(), errors = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{program} {arguments} did not finish in 3 minutes.");
        }
        string all = output.Result + errors.Result;
        if (expectSuccess && process.ExitCode != 0) Assert.Fail($"{program} {arguments} exited with {process.ExitCode}:\n{all}");
        if (!expectSuccess && process.ExitCode == 0) Assert.Fail($"{program} {arguments} succeeded, where it should have been refused:\n{all}");
        return all;
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>The command line built beside these tests (same configuration and framework).</summary>
    private static string FindCli()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string framework = output.Name, configuration = output.Parent!.Name;
        for (DirectoryInfo? d = output; d is not null; d = d.Parent)
        {
            string candidate = Path.Combine(d.FullName, "src", "GpuDistill.Cli", "bin", configuration, framework, "GpuDistill.Cli.dll");
            if (File.Exists(candidate)) return candidate;
        }
        throw new FileNotFoundException($"GpuDistill.Cli.dll ({configuration}, {framework}) not found above {output.FullName}; build the solution first.");
    }
}
