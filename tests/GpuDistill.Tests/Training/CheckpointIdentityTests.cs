using System.Text.Json.Nodes;
using GpuDistill.Training;

namespace GpuDistill.Tests.Training;

/// <summary>A checkpoint directory's identity: which runs count as the same run when resuming.</summary>
public sealed class CheckpointIdentityTests
{
    private static JsonNode Parse(string json) => JsonNode.Parse(json)!;

    [Test]
    public void EqualValuesAgreeAndAnyChangedValueDoesNot()
    {
        const string run = """{"loss":"kd:0.9,ce:0.1","settings":{"kd":{"temperature":4,"layers":["a","b"]}},"schedule":{"epochs":12}}""";
        Assert.Multiple(() =>
        {
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run)));
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("0.9", "0.5"))), Is.False, "a weight");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace(":4", ":8"))), Is.False, "a setting");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("12", "13"))), Is.False, "the schedule");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("\"a\",", ""))), Is.False, "a list's length");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("\"a\"", "\"c\""))), Is.False, "a list's item");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("4", "\"4\""))), Is.False, "a number against text");
            Assert.That(CheckpointIdentity.Agrees(Parse(run), Parse(run.Replace("{\"temperature\":4,", "[{\"temperature\":4}],\"x\":{"))),
                Is.False, "an object against a list");
        });
    }

    [Test]
    public void AKeyOnlyOneSideHasIsASettingOfAnotherVersionAndDoesNotMatter()
    {
        JsonNode older = Parse("""{"loss":"kd:1","settings":{"kd":{"temperature":4}}}""");
        JsonNode newer = Parse("""{"loss":"kd:1","settings":{"kd":{"temperature":4,"newKey":true}},"teacher":{"model":"t"}}""");
        Assert.That(CheckpointIdentity.Agrees(older, newer) && CheckpointIdentity.Agrees(newer, older));
    }

    [Test]
    public void ADirectoryTakesTheFirstIdentityAndRefusesAnotherWhenResuming()
    {
        string directory = Directory.CreateTempSubdirectory("gpudistill-identity-").FullName;
        try
        {
            var first = new JsonObject { ["loss"] = "kd:1", ["epochs"] = 3 };
            CheckpointIdentity.Claim(directory, first, resume: true);
            Assert.That(File.Exists(Path.Combine(directory, CheckpointIdentity.FileName)), "an empty directory takes the identity");
            Assert.DoesNotThrow(() => CheckpointIdentity.Claim(directory, new JsonObject { ["loss"] = "kd:1", ["epochs"] = 3 }, resume: true));

            var other = new JsonObject { ["loss"] = "kd:1", ["epochs"] = 5 };
            Assert.That(() => CheckpointIdentity.Claim(directory, other, resume: true),
                Throws.InstanceOf<InvalidDataException>().With.Message.Contains(directory).And.Message.Contains("\"epochs\":3")
                    .And.Message.Contains("\"epochs\":5"));
            // A process that writes no files (a rank other than 0) checks but never writes.
            CheckpointIdentity.Claim(directory, other, resume: false, writesFiles: false);
            Assert.That(File.ReadAllText(Path.Combine(directory, CheckpointIdentity.FileName)), Does.Contain("3"));
            // A fresh run (no resume) overwrites the checkpoints, so it takes the directory.
            CheckpointIdentity.Claim(directory, other, resume: false);
            Assert.DoesNotThrow(() => CheckpointIdentity.Claim(directory, new JsonObject { ["loss"] = "kd:1", ["epochs"] = 5 }, resume: true));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
