using System.Diagnostics;

namespace GpuDistill.Tests.Generic;

/// <summary>Runs the dotnet host as a child process (the examples, dotnet pack, a consumer project) and keeps its output.</summary>
public static class DotnetRun
{
    /// <summary>The repository's root: the folder above the test assembly that holds GpuDistill.sln.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The configuration this test assembly was built in, which the solution's other outputs share.</summary>
#if DEBUG
    public const string Configuration = "Debug";
#else
    public const string Configuration = "Release";
#endif

    /// <summary>The command line's assembly built beside these tests (same configuration and framework).</summary>
    /// <exception cref="FileNotFoundException">The solution was not built.</exception>
    public static string Cli
    {
        get
        {
            string path = Path.Combine(RepositoryRoot, "src", "GpuDistill.Cli", "bin", Configuration, "net10.0", "GpuDistill.Cli.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} not found; build the solution first.", path);
        }
    }

    /// <summary>Runs <c>dotnet</c> with <paramref name="arguments"/> in <paramref name="directory"/> and returns its exit
    /// code and everything it printed; fails the test when it does not finish within <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Output) Run(string directory, TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', arguments)} did not finish within {timeout}:\n{output}");
        }
        process.WaitForExit();
        TestContext.Out.WriteLine($"dotnet {string.Join(' ', arguments)} (exit {process.ExitCode}):\n{output}");
        return (process.ExitCode, output.ToString());
    }

    /// <summary>The losses a program printed on lines starting with <paramref name="prefix"/>, in order.</summary>
    public static double[] Losses(string output, string prefix) =>
        [.. output.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split("loss ")[1].Split(',')[0], System.Globalization.CultureInfo.InvariantCulture))];

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "GpuDistill.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"No GpuDistill.sln above {AppContext.BaseDirectory}.");
    }
}
