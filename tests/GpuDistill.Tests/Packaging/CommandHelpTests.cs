using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Packaging;

/// <summary>
/// Every command's <c>--help</c> prints its options and exits with 0: the help is rendered as markup, so a description
/// with a bare bracket (say "in [0, 1)") breaks it at run time, not at build time.
/// </summary>
public sealed class CommandHelpTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);

    [TestCase("")]
    [TestCase("compare")]
    [TestCase("distill")]
    [TestCase("methods")]
    [TestCase("train-teacher")]
    [TestCase("cache-teacher")]
    [TestCase("evaluate")]
    [TestCase("diagnose")]
    [TestCase("run")]
    [TestCase("export")]
    [TestCase("search")]
    [TestCase("devices")]
    public void HelpPrintsTheOptionsAndExitsWithZero(string command)
    {
        string[] arguments = command.Length == 0 ? [DotnetRun.Cli, "--help"] : [DotnetRun.Cli, command, "--help"];
        (int exitCode, string output) = DotnetRun.Run(Path.GetTempPath(), Limit, arguments);
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, output);
            Assert.That(output, Does.Contain(command.Length == 0 ? "COMMANDS:" : "OPTIONS:"), output);
            Assert.That(output, Does.Not.Contain("Exception"), output);
        });
    }
}
