using GpuDistill.Compute;

namespace GpuDistill.Tests.Generic;

/// <summary>
/// Base of the fixtures written once and run on every accelerator kind. Concrete fixtures carry
/// <c>[TestFixtureSource(typeof(TestDevices), nameof(TestDevices.Kinds))]</c> and a constructor taking the kind.
/// </summary>
public abstract class AcceleratorTestBase(AcceleratorKind kind)
{
    protected AcceleratorKind Kind { get; } = kind;

    protected ComputeDevice Device { get; private set; } = null!;

    [OneTimeSetUp]
    public void OpenDevice() => Device = TestDevices.Get(Kind);
}
