using GpuDistill.Compute;

namespace GpuDistill.Tests.Generic;

/// <summary>Opening the host SIMD backend by name and through <c>auto</c>.</summary>
public sealed class SimdDeviceTests
{
    [TestCase("simd")]
    [TestCase("SIMD")]
    [TestCase(" simd:0 ")]
    public void SimdOpensWithTheCpuAcceleratorBehindIt(string name)
    {
        using ComputeDevice device = ComputeDevice.Open(name);
        Assert.Multiple(() =>
        {
            Assert.That(device.Kind, Is.EqualTo(AcceleratorKind.Simd));
            Assert.That(device.UsesHostSimd, Is.True);
            Assert.That(device.SharesHostMemory, Is.True);
            Assert.That(device.Accelerator.AcceleratorType, Is.EqualTo(ILGPU.Runtime.AcceleratorType.CPU),
                "kernels without a host implementation run on the CPU accelerator");
        });
    }

    [Test]
    public void AutoTakesSimdWhenNoGpuIsPresent()
    {
        bool gpu = ComputeDevice.ListDevices().Any(d => d.Kind is AcceleratorKind.Cuda or AcceleratorKind.OpenCL);
        if (gpu) Assert.Ignore("A GPU is present: auto takes it.");
        using ComputeDevice device = ComputeDevice.Open("auto");
        Assert.That(device.Kind, Is.EqualTo(AcceleratorKind.Simd));
        Assert.That(device.SelectionReason, Does.Contain("Simd"));
    }

    [Test]
    public void CpuStillOpensIlgpusCpuAccelerator()
    {
        using ComputeDevice device = ComputeDevice.Open("cpu");
        Assert.That(device.Kind, Is.EqualTo(AcceleratorKind.Cpu));
        Assert.That(device.UsesHostSimd, Is.False);
    }

    [Test]
    public void UnknownNamesListSimd() =>
        ArgumentAssert.Rejects(() => ComputeDevice.Open("vector"), "name", "simd");

    [Test]
    public void AMissingIndexIsAnError() =>
        Assert.Throws<ArgumentException>(() => ComputeDevice.Open("simd:3"));
}
