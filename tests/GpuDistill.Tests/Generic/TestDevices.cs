using GpuDistill.Compute;

namespace GpuDistill.Tests.Generic;

/// <summary>
/// One device per accelerator kind for the whole test run, so each kernel compiles once per accelerator.
/// The kinds a test fixture runs on: the CPU accelerator always, CUDA and OpenCL where present.
/// </summary>
[SetUpFixture]
public sealed class TestDevices
{
    private static readonly Dictionary<AcceleratorKind, ComputeDevice> Opened = [];
    private static readonly Lazy<IReadOnlyList<DeviceInfo>> Present = new(ComputeDevice.ListDevices);

    /// <summary>The GPU kinds the fixtures cover wherever such a device is present.</summary>
    public static IReadOnlyList<AcceleratorKind> GpuKinds { get; } = [AcceleratorKind.Cuda, AcceleratorKind.OpenCL];

    /// <summary>
    /// Every kind a fixture is instantiated for: the CPU accelerator always, CUDA and OpenCL where present. An absent
    /// backend is one skipped test with its reason (<see cref="AbsentBackends"/>), not a skipped copy of every test.
    /// </summary>
    public static IEnumerable<AcceleratorKind> Kinds =>
        [AcceleratorKind.Cpu, .. GpuKinds.Where(kind => Present.Value.Any(d => d.Kind == kind))];

    /// <summary>
    /// The kinds a loss-through-the-bridge fixture runs on: <see cref="Kinds"/> and the host SIMD backend, which only
    /// the bridge dispatches to (its own row functions are tested directly in Kernels/SimdRowLossTests).
    /// </summary>
    public static IEnumerable<AcceleratorKind> BridgeKinds => [.. Kinds, AcceleratorKind.Simd];

    /// <summary>The shared device of <paramref name="kind"/>, or an ignored test when it is absent.</summary>
    public static ComputeDevice Get(AcceleratorKind kind)
    {
        lock (Opened)
        {
            if (Opened.TryGetValue(kind, out ComputeDevice? device)) return device;
            if (kind != AcceleratorKind.Simd && !Present.Value.Any(d => d.Kind == kind))
            {
                string present = string.Join(", ", Present.Value.Select(d => $"{d.Kind} '{d.Name}'"));
                Assert.Ignore($"No {kind} accelerator on this machine (present: {present}).");
            }
            device = ComputeDevice.Open(kind);
            Opened[kind] = device;
            return device;
        }
    }

    [OneTimeTearDown]
    public void DisposeAll()
    {
        lock (Opened)
        {
            foreach (ComputeDevice device in Opened.Values) device.Dispose();
            Opened.Clear();
        }
    }
}
