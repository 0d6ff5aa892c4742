using GpuDistill.Methods;

namespace GpuDistill.Tests.Experiments;

/// <summary>The built-in grids' points as they are shown, recorded and named on disk.</summary>
public sealed class TuningGridTests
{
    [Test]
    public void ScaledPointsWriteTheirWeightsPlainly()
    {
        // 30000 x 0.3 is 9000.000000000002 in floating point; 30000 is "3E+04" in 4 significant digits.
        Assert.That(TuningGrid.Scaled("pkt:30000,ce:1", 0.1, 0.3, 1).Select(p => p.Loss),
            Is.EqualTo(new[] { "pkt:3000,ce:1", "pkt:9000,ce:1", "pkt:30000,ce:1" }));
        Assert.That(TuningGrid.Scaled("rkd-distance:25,rkd-angle:50,ce:1", 0.3).Single().Loss, Is.EqualTo("rkd-distance:7.5,rkd-angle:15,ce:1"));
        Assert.That(TuningGrid.Scaled("cc:0.02,ce:1", 0.3).Single().Loss, Is.EqualTo("cc:0.006,ce:1"));
    }

    [Test]
    public void APointsFileNameIsItsTermsAndSettingsWithoutCharactersFileSystemsRefuse()
    {
        GridPoint kd = TuningGrid.Of("kd:0.9,ce:0.1").Cross("kd.temperature", "4").Single();
        Assert.That(kd.FileName, Is.EqualTo("kd0.9-ce0.1-kd.temperature=4"));
        var layers = new GridPoint("fitnets:30,ce:1", new Dictionary<string, string> { ["fitnets.studentLayers"] = "[\"stage1\",\"head:in\"]" });
        Assert.That(layers.FileName, Is.EqualTo("fitnets30-ce1-fitnets.studentLayers=__stage1_-_headin__"));
        Assert.That(layers.FileName.IndexOfAny([.. Path.GetInvalidFileNameChars(), ':', '"', '/', '\\', '*', '?', '<', '>', '|']), Is.EqualTo(-1));
    }
}
