namespace GpuDistill.Compute;

/// <summary>One device ILGPU can see, as <c>gpudistill devices</c> lists it.</summary>
/// <param name="Kind">The accelerator family.</param>
/// <param name="Index">Index among the devices of that family.</param>
/// <param name="Name">The device's own name.</param>
/// <param name="MemoryBytes">Device memory in bytes.</param>
/// <param name="WarpSize">Threads per warp.</param>
/// <param name="MaxThreadsPerGroup">Largest group the device accepts.</param>
public sealed record DeviceInfo(AcceleratorKind Kind, int Index, string Name, long MemoryBytes, int WarpSize, int MaxThreadsPerGroup);
