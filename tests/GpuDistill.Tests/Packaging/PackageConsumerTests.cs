using GpuDistill.Tests.Generic;

namespace GpuDistill.Tests.Packaging;

/// <summary>
/// The package as someone outside this repository meets it: the library's packages are packed into a local folder
/// feed, a fresh console project in a temporary folder (no repository settings above it) references GpuDistill from
/// that feed plus TorchSharp-cpu, and runs examples/PlainLoop's program. It must restore, build (the package's
/// buildTransitive targets patch TorchSharp's native library for Debian 12, or TorchSharp would not load), run and
/// print a student loss that goes down.
/// </summary>
public sealed class PackageConsumerTests
{
    private static readonly string[] Packed = ["kernels/GpuDistill.Kernels", "src/GpuDistill.Compute", "src/GpuDistill"];

    [Test]
    public void AFreshConsoleProjectDistilsWithThePackedLibrary()
    {
        string root = Directory.CreateTempSubdirectory("gpudistill-consumer-").FullName;
        try
        {
            // A version of its own, so the global package cache never hands an older build of the same version.
            string version = $"0.1.0-ci.{DateTime.UtcNow:yyyyMMddHHmmss}.{Environment.ProcessId}";
            string feed = Path.Combine(root, "feed"), app = Path.Combine(root, "app");
            foreach (string project in Packed)
            {
                // The suite's own build of the projects, packed as it is (no second build).
                (int packed, string log) = DotnetRun.Run(DotnetRun.RepositoryRoot, TimeSpan.FromMinutes(10), "pack", project,
                    "-c", DotnetRun.Configuration, "--no-build", "-o", feed, $"-p:Version={version}");
                Assert.That(packed, Is.Zero, log);
            }
            string[] files = [.. Directory.GetFiles(feed).Select(Path.GetFileName)!];
            Assert.That(files, Does.Contain($"GpuDistill.{version}.nupkg").And.Contain($"GpuDistill.{version}.snupkg"));

            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="GpuDistill" Version="{version}" />
                    <PackageReference Include="TorchSharp-cpu" Version="0.107.0" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local" value="{feed}" />
                    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
                  </packageSources>
                </configuration>
                """);
            File.Copy(Path.Combine(DotnetRun.RepositoryRoot, "examples", "PlainLoop", "Program.cs"), Path.Combine(app, "Program.cs"));

            (int exitCode, string output) = DotnetRun.Run(app, TimeSpan.FromMinutes(10), "run", "-c", "Release", "--", "--quick");
            double[] losses = DotnetRun.Losses(output, "student epoch");
            Assert.Multiple(() =>
            {
                Assert.That(exitCode, Is.Zero, output);
                Assert.That(losses, Has.Length.EqualTo(2), output);
                Assert.That(losses[^1], Is.LessThan(losses[0]), "the student's loss falls");
            });
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
