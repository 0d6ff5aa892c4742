using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Packaging;

/// <summary>
/// The three examples a researcher copies from (examples/), built with the solution and run here in their quick form:
/// each must finish, and its student's loss must fall.
/// </summary>
public sealed class ExampleTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(10);

    private static string Built(string example) =>
        Path.Combine(DotnetRun.RepositoryRoot, "examples", example, "bin", DotnetRun.Configuration, "net10.0", example + ".dll");

    [TestCase("PlainLoop")]
    [TestCase("FeatureDistillation")]
    public void RunsAndTheStudentsLossFalls(string example)
    {
        (int exitCode, string output) = DotnetRun.Run(Path.GetTempPath(), Limit, Built(example), "--quick");
        double[] losses = DotnetRun.Losses(output, "student epoch");
        Assert.Multiple(() =>
        {
            Assert.That(exitCode, Is.Zero, output);
            Assert.That(losses, Has.Length.EqualTo(2), output);
            Assert.That(losses[^1], Is.LessThan(losses[0]), "the student's loss falls");
        });
    }

    [Test]
    public void CustomTermRunsFromARecipeBesideTheBuiltInMethods()
    {
        string output = Directory.CreateTempSubdirectory("gpudistill-example-").FullName;
        try
        {
            (int exitCode, string printed) = DotnetRun.Run(Path.GetTempPath(), Limit, Built("CustomTerm"), "--quick", "--out", output);
            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.Zero, printed);
                Assert.That(printed, Does.Contain("cosine   cosine:1,ce:1"));
                Assert.That(File.ReadAllText(Path.Combine(output, "results.md")), Does.Contain("cosine:1,ce:1"));
                Assert.That(File.ReadAllText(Path.Combine(output, "recipe.json")), Does.Contain("\"cosine\": {"));
            });
        }
        finally
        {
            Directory.Delete(output, recursive: true);
        }
    }
}
