using GpuDistill.Compute;

namespace GpuDistill.Tests.Generic;

/// <summary>
/// Says which GPU backends this machine lacks, once each: the kernel fixtures run only on the kinds present
/// (<see cref="TestDevices.Kinds"/>), so each absent backend is this one skipped test with its reason.
/// </summary>
public sealed class AbsentBackends
{
    [TestCaseSource(typeof(TestDevices), nameof(TestDevices.GpuKinds))]
    public void KernelFixturesRunOn(AcceleratorKind kind)
    {
        IReadOnlyList<DeviceInfo> present = ComputeDevice.ListDevices();
        if (!present.Any(d => d.Kind == kind))
        {
            Assert.Ignore($"No {kind} accelerator on this machine (present: {string.Join(", ", present.Select(d => $"{d.Kind} '{d.Name}'"))}): " +
                $"every kernel and loss fixture skips its {kind} instance; they run wherever one is present.");
        }
        Assert.That(TestDevices.Kinds, Does.Contain(kind), $"{kind} is present, so the fixtures run on it");
    }
}
